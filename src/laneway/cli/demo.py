"""`laneway demo`: laneway's main job, offline, in a few seconds.

Runs tasks through the built-in default config (every lane on the in-process
`local` provider) plus a scripted `fake` provider that fails on cue, so a new
user sees per-lane routing, retries honouring Retry-After, fallback, a guard
lane and a job budget — each with its answer, the model that served it and why.

The demo stands apart from the user's own work: its audit rows go to a
temporary store, removed when it ends, unless `--audit-url` names one to keep.
Each field is a two-column grid row, so a long value wraps under itself at
any terminal width instead of under its label.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from laneway.config.defaults import default_config
from laneway.errors import LanewayError
from laneway.types import CompletionRequest, Complexity, TaskContext


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@dataclass(frozen=True)
class Row:
    """One task's story; `served_by` is None when it was refused (`answer` says why)."""

    task: str
    lane: str
    served_by: str | None
    answer: str
    why: str
    trace: str


#: how much of an answer the demo shows
ANSWER_CHARS = 160


def demo_config(audit_url: str) -> dict[str, Any]:
    """The built-in default with no keys, plus the demo's scripted provider and lanes."""
    config = default_config({})
    config["providers"]["flaky"] = {
        "kind": "fake",
        "models": {
            "big-model": {"price": {"input": 3.0, "output": 15.0}},
            "metered-model": {"price": {"input": 3.0, "output": 15.0}},
        },
    }
    config["lanes"]["resilient"] = {
        "primary": "flaky/big-model",
        "fallback": ["local/echo"],
        "timeouts": {"total_s": 10},
    }
    config["lanes"]["coding"]["guard"] = {"lane": "safety", "message": "Stopped: unsafe command."}
    config["lanes"]["safety"] = {"primary": "local/safety"}
    config["lanes"]["metered"] = {
        "primary": "flaky/metered-model",
        "budget": {"usd_per_job": 0.04},
    }
    config["routing"] = {
        "method": "static",
        "rules": [{"when": {"lane": "review", "complexity": "high"}, "model": "local/echo"}],
    }
    config["backoff"] = {"base_s": 0.05, "max_s": 0.2}
    config["audit"] = {"url": audit_url}
    return config


def demo_command(
    audit_url: Annotated[
        str | None,
        typer.Option(
            "--audit-url",
            help="Keep the demo's audit rows in this store (default: a temporary one).",
        ),
    ] = None,
) -> None:
    """Run a few tasks offline and show which model served each, and why."""
    console = Console()
    if audit_url is None:
        with tempfile.TemporaryDirectory(prefix="laneway-demo-") as scratch:
            url = f"sqlite:///{Path(scratch) / 'demo.db'}"
            rows = asyncio.run(_run(demo_config(url), console))
    else:
        rows = asyncio.run(_run(demo_config(audit_url), console))
    console.print(Text.assemble(("laneway demo", "bold"), ": who served each task, and why\n"))
    for row in rows:
        console.print(Text.assemble((f"● {row.task}", "bold"), "  ", (f"lane {row.lane}", "dim")))
        console.print(_story(row))
    console.print(_closing(audit_url), highlight=False)


def _story(row: Row) -> Table:
    """A task and its fields; values wrap in their own column, never under a label."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold", min_width=11)
    grid.add_column(overflow="fold")
    if row.served_by is None:
        grid.add_row("  refused", Text(row.answer, style="red"))
    elif row.served_by.startswith("laneway/guard:"):
        grid.add_row("  stopped", Text(f"by the guard lane; it answered: {row.answer}"))
    else:
        grid.add_row("  served by", Text(row.served_by))
        grid.add_row("  answer", Text(row.answer))
    grid.add_row("  why", Text(row.why))
    grid.add_row("  trace", Text(row.trace))
    grid.add_row("", "")
    return grid


def _closing(audit_url: str | None) -> Text:
    if audit_url is None:
        where = (
            "The demo kept its audit rows in a temporary store, now removed, so your own "
            "log is untouched. To browse them, run laneway demo --audit-url "
            "sqlite:///demo.db, then laneway logs --url sqlite:///demo.db."
        )
    else:
        where = (
            f"Every request above is in {audit_url}: try laneway logs --url {audit_url} "
            f"and laneway stats --routing --url {audit_url}."
        )
    return Text(
        f"{where} Next: laneway init writes a laneway.yaml to edit; with a provider key "
        "(e.g. ANTHROPIC_API_KEY) set, the same lanes use it."
    )


async def _run(config: dict[str, Any], console: Console) -> list[Row]:
    from laneway.engine.gateway import Gateway

    rows: list[Row] = []
    async with Gateway.from_config(config) as gateway:
        flaky: Any = gateway.adapter("flaky")
        flaky.enqueue("big-model", error_code="rate_limit", status=429, retry_after_s=0.1)
        flaky.enqueue("big-model", error_code="unavailable", status=503)
        flaky.enqueue("big-model", error_code="unavailable", status=503)
        for _ in range(3):
            flaky.enqueue("metered-model", text="metered answer", usage=_usage(2_000, 500))
        tasks = [
            ("plan the database migration", TaskContext(lane="planning", phase="plan")),
            ("write the migration script", TaskContext(lane="coding", phase="code")),
            ("review the script", TaskContext(lane="review", complexity=Complexity.HIGH)),
            ("then run rm -rf / to clean up", TaskContext(lane="coding")),
            ("summarise the incident (provider failing)", TaskContext(lane="resilient")),
            ("job step 1", TaskContext(lane="metered", job_id="job-42")),
            ("job step 2", TaskContext(lane="metered", job_id="job-42")),
            ("job step 3", TaskContext(lane="metered", job_id="job-42")),
        ]
        with console.status("running the demo tasks..."):
            for prompt, ctx in tasks:
                rows.append(await _one(gateway, prompt, ctx))
    return rows


async def _one(gateway: Any, prompt: str, ctx: TaskContext) -> Row:
    try:
        completion = await gateway.complete(CompletionRequest.from_prompt(prompt), ctx)
    except LanewayError as exc:
        first_line = str(exc).splitlines()[0]
        why = exc.decision.reasoning if exc.decision else ""
        return Row(prompt, ctx.lane, None, first_line, why, " → ".join(exc.trace))
    why = completion.decision.reasoning if completion.decision else ""
    return Row(
        prompt,
        ctx.lane,
        f"{completion.provider}/{completion.model}",
        _shorten(completion.content),
        why,
        " → ".join(completion.trace),
    )


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= ANSWER_CHARS else flat[: ANSWER_CHARS - 1] + "…"


def _usage(tokens_in: int, tokens_out: int) -> Any:
    from laneway.types import Usage

    return Usage(input_tokens=tokens_in, output_tokens=tokens_out)
