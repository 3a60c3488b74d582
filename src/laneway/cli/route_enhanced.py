"""`laneway route` for `routing.method: llm_enhanced`: the prompt, the reply, and why.

Without `--dry-run` the routing model is really asked (through the same code
path as the gateway, cache included), because the decision shown must be the
one a request would get. With `--dry-run` nothing is called: the static
decision is shown with the prompt that would be sent and its cost estimate.
The routing call is not written to the audit log: `route` is a what-if.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from laneway.types import CompletionRequest, RoutingDecision, TaskContext

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.routing.llm_enhanced import RoutingPlan


@dataclass(frozen=True, slots=True)
class EnhancedView:
    """What `route` shows of one llm_enhanced decision."""

    plan: RoutingPlan
    decision: RoutingDecision
    status: str  # a RoutingCall status, or "dry_run"
    reason: str
    reply: str | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0


def is_enhanced(config: Config) -> bool:
    return config.spec.routing.method == "llm_enhanced"


def consult_for_cli(
    config: Config,
    ctx: TaskContext,
    *,
    input_tokens: int | None,
    dry_run: bool,
    env: dict[str, str],
) -> EnhancedView:
    if dry_run:
        return _dry_run(config, ctx, input_tokens)
    return asyncio.run(_consult(config, ctx, input_tokens, env))


def _dry_run(config: Config, ctx: TaskContext, input_tokens: int | None) -> EnhancedView:
    from laneway.routing import load_routing_provider
    from laneway.routing.llm_enhanced import EnhancedRouter

    router = EnhancedRouter(config, load_routing_provider(config))
    plan = router.plan(ctx, input_tokens=input_tokens)
    reason = plan.skip_reason or "dry run: no call made"
    verdict = router.fallback(plan, reason)
    status = "skipped" if plan.skip_reason else "dry_run"
    return EnhancedView(plan, verdict.decision, status, reason)


async def _consult(
    config: Config, ctx: TaskContext, input_tokens: int | None, env: dict[str, str]
) -> EnhancedView:
    from laneway.audit.sink import NullSink
    from laneway.engine.core import EngineCore
    from laneway.engine.enhanced import consult

    core = EngineCore.build(config, env=env, transport=None, clock=None, audit=NullSink())
    try:
        found = await consult(core, ctx, input_tokens=input_tokens)
    finally:
        await core.aclose()
    return EnhancedView(
        found.plan,
        found.decision,
        found.status,
        found.reason,
        found.reply,
        found.cost_usd,
        found.latency_ms,
    )


def enhanced_to_dict(view: EnhancedView) -> dict[str, Any]:
    plan = view.plan
    return {
        "routing_model": str(plan.routing_model),
        "status": view.status,
        "reason": view.reason,
        "estimated_cost_usd": plan.estimated_cost_usd,
        "max_routing_cost_usd": plan.spec.max_routing_cost_usd,
        "cost_usd": view.cost_usd,
        "latency_ms": view.latency_ms,
        "prompt": [{"role": m.role, "content": m.text} for m in plan.request.messages],
        "reply": view.reply,
    }


def print_enhanced(console: Console, view: EnhancedView) -> None:
    plan = view.plan
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("routing model", str(plan.routing_model))
    style = "green" if view.status in ("used", "cached") else "yellow"
    table.add_row("status", Text(view.status, style=style))
    table.add_row("why", Text(view.reason))
    estimate = plan.estimated_cost_usd
    shown = "unknown" if estimate is None else f"${estimate:.6f}"
    table.add_row("est. cost", f"{shown} (cap ${plan.spec.max_routing_cost_usd:.6f})")
    if view.status not in ("dry_run", "skipped", "cached"):
        table.add_row("cost", f"${view.cost_usd:.6f} in {view.latency_ms:.0f} ms")
    console.print(Text("llm_enhanced routing", style="bold"))
    console.print(table)
    console.print(Panel(_prompt_text(plan.request), title="prompt sent", title_align="left"))
    if view.reply is not None:
        console.print(Panel(Text(view.reply), title="reply", title_align="left"))


def _prompt_text(request: CompletionRequest) -> Text:
    text = Text()
    for message in request.messages:
        text.append(f"[{message.role}]\n", style="bold")
        text.append(message.text + "\n")
    fmt = request.response_format
    if fmt is not None:
        text.append(f"[response_format] {fmt.type} ({fmt.name})", style="dim")
    return text
