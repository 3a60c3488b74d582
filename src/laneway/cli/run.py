"""`laneway run LANE "prompt"`: one completion from the terminal, streamed as it arrives."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from laneway.errors import LanewayError
from laneway.types import (
    Completion,
    CompletionRequest,
    Complexity,
    ErrorDelta,
    ResponseFormat,
    StreamDone,
    StreamOpened,
    TaskContext,
    TextDelta,
)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


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
    explain: Annotated[bool, typer.Option(help="Show the decision, trace and cost after.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    config: Annotated[
        Path | None, typer.Option(help="Config file (default ./laneway.yaml).")
    ] = None,
) -> None:
    """Run one completion in LANE and print it."""
    text = sys.stdin.read() if prompt == "-" else prompt
    request = CompletionRequest.from_prompt(text, system=system)
    if schema is not None:
        request = _with_schema(request, schema)
    ctx = TaskContext(lane=lane, phase=phase, complexity=complexity, job_id=job)
    source = config or os.environ.get("LANEWAY_CONFIG")
    console = Console()
    streaming = stream and not as_json
    completion = asyncio.run(_run(source, request, ctx, streaming=streaming, console=console))
    if as_json:
        console.print_json(json.dumps(_as_dict(completion)))
    elif not streaming:
        console.print(completion.content, markup=False, highlight=False)
    if explain:
        _explain(console, completion)


async def _run(
    source: str | Path | None,
    request: CompletionRequest,
    ctx: TaskContext,
    *,
    streaming: bool,
    console: Console,
) -> Completion:
    from laneway.engine.gateway import Gateway

    async with Gateway.from_config(source) as gateway:
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


def _explain(console: Console, completion: Completion) -> None:
    decision = completion.decision
    console.print()
    if decision is not None:
        console.print(f"[bold]decision[/] {decision.model} ({decision.method})")
        console.print(f"  [dim]{decision.reasoning}[/]")
        if decision.fallback_chain:
            console.print("  chain: " + " → ".join(str(m) for m in decision.fallback_chain))
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
