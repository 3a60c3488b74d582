"""`laneway demo`: laneway's main job, offline, in a few seconds.

Runs tasks through the built-in default config (every lane on the in-process
`local` provider) plus a scripted `fake` provider that fails on cue, so a new
user sees per-lane routing, retries honouring Retry-After, fallback, a guard
lane and a job budget — each with the model that served it and why.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console

from laneway.config.defaults import default_config
from laneway.errors import LanewayError
from laneway.types import CompletionRequest, Complexity, TaskContext


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


@dataclass(frozen=True, slots=True)
class Row:
    task: str
    lane: str
    served_by: str
    why: str
    trace: str


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
        str, typer.Option("--audit-url", help="Where the demo's audit rows go.")
    ] = "sqlite:///laneway.db",
) -> None:
    """Run a few tasks offline and show which model served each, and why."""
    console = Console()
    rows = asyncio.run(_run(demo_config(audit_url), console))
    console.print("[bold]laneway demo[/]: who served each task, and why\n")
    for row in rows:
        console.print(f"[bold]● {row.task}[/]  [dim]lane {row.lane}[/]")
        console.print(f"  served by {row.served_by}")
        console.print(f"  why:   {row.why}", markup=False, highlight=False)
        console.print(f"  trace: {row.trace}\n", markup=False, highlight=False)
    console.print(
        "Every request above is in the audit log: try [bold]laneway logs[/] and "
        "[bold]laneway stats --routing[/]. Add a provider key (e.g. ANTHROPIC_API_KEY) "
        "and the same lanes use it, with local/echo as the fallback."
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
        return Row(prompt, ctx.lane, "[red]refused[/]", first_line, " → ".join(exc.trace))
    why = completion.decision.reasoning if completion.decision else ""
    return Row(
        prompt,
        ctx.lane,
        f"{completion.provider}/{completion.model}",
        why,
        " → ".join(completion.trace),
    )


def _usage(tokens_in: int, tokens_out: int) -> Any:
    from laneway.types import Usage

    return Usage(input_tokens=tokens_in, output_tokens=tokens_out)
