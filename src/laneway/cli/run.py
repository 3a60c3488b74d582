"""`laneway run LANE "prompt"`: one completion from the terminal, streamed as it arrives.

Exit status: 0 for an answer, 1 for an error (the message says why), and
`GUARD_STOP_EXIT` when the lane's guard refused the input, so a script can
tell a refusal from an answer. `--explain` prints the decision and the trace
in every case: when a request fails is when they matter most.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.errors import LanewayError
from laneway.types import (
    Completion,
    CompletionRequest,
    Complexity,
    ErrorDelta,
    ResponseFormat,
    RoutingDecision,
    StreamDone,
    StreamOpened,
    TaskContext,
    TextDelta,
)

if TYPE_CHECKING:
    from laneway.config.model import Config


def register(app: typer.Typer) -> None:
    app.command("run", short_help="Run one completion in LANE and print it.")(run_command)


def run_command(
    lane: Annotated[str, typer.Argument(help="The lane to run in, e.g. coding.")],
    prompt: Annotated[str, typer.Argument(help='The prompt; "-" reads standard input.')],
    phase: Annotated[str | None, typer.Option(help="Task phase, e.g. plan.")] = None,
    complexity: Annotated[Complexity | None, typer.Option(help="low, medium or high.")] = None,
    job: Annotated[str | None, typer.Option(help="Job id: budgets add up per job.")] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    schema: Annotated[
        Path | None, typer.Option(help="JSON Schema file the answer must satisfy.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print as it arrives.")
    ] = True,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the decision, trace and cost, also on failure.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run one completion in LANE and print it (exit 3 when the lane's guard stops it)."""
    text = sys.stdin.read() if prompt == "-" else prompt
    request = CompletionRequest.from_prompt(text, system=system)
    if schema is not None:
        request = _with_schema(request, schema)
    ctx = TaskContext(lane=lane, phase=phase, complexity=complexity, job_id=job)
    env = environment()
    source = load_cli_config(config, env)
    console = Console()
    streaming = stream and not as_json
    try:
        completion = asyncio.run(
            _run(source, env, request, ctx, streaming=streaming, console=console)
        )
    except LanewayError as exc:
        if explain:
            _explain_failure(Console(stderr=True), exc)
        raise
    if as_json:
        console.print_json(json.dumps(_as_dict(completion)))
    elif not streaming:
        console.print(completion.content, markup=False, highlight=False)
    if explain:
        _explain(console, completion)
    if is_guard_stop(completion):
        Console(stderr=True).print(
            f"stopped: the guard of lane {lane!r} refused the input "
            f"({completion.decision.reasoning if completion.decision else 'no reason given'})",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(GUARD_STOP_EXIT)


#: the exit status of a request the lane's guard refused (1 is an error, 2 a usage error)
GUARD_STOP_EXIT = 3


def is_guard_stop(completion: Completion) -> bool:
    """laneway itself answered: the lane's guard stopped the input before any model."""
    return completion.provider == "laneway" and completion.model.startswith("guard:")


async def _run(
    source: Config,
    env: dict[str, str],
    request: CompletionRequest,
    ctx: TaskContext,
    *,
    streaming: bool,
    console: Console,
) -> Completion:
    from laneway.engine.gateway import Gateway

    async with Gateway.from_config(source, env=env) as gateway:
        if not streaming:
            return await gateway.complete(request, ctx)
        return await _print_stream(gateway, request, ctx, console)


async def _print_stream(
    gateway: Any, request: CompletionRequest, ctx: TaskContext, console: Console
) -> Completion:
    done: Completion | None = None
    async for event in gateway.stream(request, ctx):
        if isinstance(event, TextDelta):
            console.file.write(event.text)
            console.file.flush()
        elif isinstance(event, StreamOpened):
            continue
        elif isinstance(event, ErrorDelta):
            console.file.write("\n")
            raise event.error.attach(
                request_id=ctx.request_id, decision=None, trace=event.trace, attempts=()
            )
        elif isinstance(event, StreamDone):
            done = event.completion
    console.file.write("\n")
    if done is None:
        raise LanewayError("the stream ended without a result")
    return done


def _with_schema(request: CompletionRequest, path: Path) -> CompletionRequest:
    from dataclasses import replace

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LanewayError(f"--schema {path}: cannot read a JSON Schema from it ({exc})") from None
    return replace(
        request, response_format=ResponseFormat(type="json_schema", schema=schema, name=path.stem)
    )


def _explain_decision(console: Console, decision: RoutingDecision | None) -> None:
    console.print()
    if decision is None:
        console.print("[bold]decision[/] none (the request stopped before routing)")
        return
    console.print(f"[bold]decision[/] {decision.model} ({decision.method})", highlight=False)
    console.print(f"  [dim]{escape(decision.reasoning)}[/]", highlight=False)
    if decision.fallback_chain:
        console.print("  chain: " + " → ".join(str(m) for m in decision.fallback_chain))


def _explain_failure(console: Console, error: LanewayError) -> None:
    """What was decided and tried before the request failed; the error itself follows."""
    _explain_decision(console, error.decision)
    console.print("[bold]trace[/] " + (" → ".join(error.trace) or "none"), highlight=False)
    for attempt in error.attempts:
        console.print(f"  {attempt.describe()}", highlight=False, markup=False)


def _explain(console: Console, completion: Completion) -> None:
    _explain_decision(console, completion.decision)
    served = f"{completion.provider}/{completion.model}"
    upstream = completion.provider_model
    if upstream is not None and upstream != completion.model:
        served += f" (the provider calls it {upstream})"
    console.print(f"[bold]served by[/] {served}", highlight=False)
    console.print("[bold]trace[/] " + " → ".join(completion.trace))
    usage = completion.usage
    cost = f"${usage.cost_usd:.6f}" if usage.cost_usd is not None else "unknown"
    console.print(
        f"[bold]usage[/] {usage.input_tokens} in, {usage.output_tokens} out, cost {cost}, "
        f"{completion.latency_ms:.0f} ms"
    )


def _as_dict(completion: Completion) -> dict[str, Any]:
    decision = completion.decision
    return {
        "content": completion.content,
        "model": f"{completion.provider}/{completion.model}",
        "provider_model": completion.provider_model,
        "finish_reason": completion.finish_reason.value,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls
        ],
        "usage": {
            "input_tokens": completion.usage.input_tokens,
            "output_tokens": completion.usage.output_tokens,
            "cost_usd": completion.usage.cost_usd,
        },
        "decision": None
        if decision is None
        else {
            "model": str(decision.model),
            "method": decision.method,
            "reasoning": decision.reasoning,
            "fallback_chain": [str(m) for m in decision.fallback_chain],
        },
        "trace": list(completion.trace),
        "request_id": completion.request_id,
    }
