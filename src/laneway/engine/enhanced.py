"""llm_enhanced routing, the I/O half: cache, the routing call, the `RoutingCall` event.

`routing/llm_enhanced.py` plans the call and judges the reply; this module
performs it: a decision-cache lookup in the state store (shared by replicas
on Redis), the call through the routing model's own adapter under its own
short deadline (`timeout_s`, independent of the lane's), the measured cost,
and exactly one `RoutingCall` event per decision with status `used`,
`cached`, `ignored`, `skipped` or `failed`.

Nothing here may fail the request: a provider error, a timeout, a state-store
error or an unusable reply all end in the static decision, with the reason in
both the decision's reasoning and the event.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from laneway.errors import ErrorCode, LanewayError, ProviderError
from laneway.events import RoutingCall
from laneway.routing.llm_enhanced import EnhancedRouter, RoutingPlan, Verdict, encode_cached
from laneway.types import Answer, CompletionRequest, ModelRef, RoutingDecision, TaskContext

if TYPE_CHECKING:
    from laneway.engine.core import EngineCore

Status = Literal["used", "cached", "ignored", "skipped", "failed"]

#: Slack past `timeout_s` before the engine cancels an adapter that ignores its deadline.
_CANCEL_SLACK_S = 0.05


@dataclass(frozen=True, slots=True)
class Consultation:
    """One routing decision's story: the prompt, the reply and why it was used or not."""

    plan: RoutingPlan
    decision: RoutingDecision
    status: Status
    reason: str
    reply: str | None = None
    chosen: ModelRef | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0


async def decide_enhanced(
    core: EngineCore, ctx: TaskContext, request: CompletionRequest
) -> RoutingDecision:
    """The routing model's decision when usable, else the static one. Never raises for
    a routing failure (an unknown lane or no capable model still raise, as in static)."""
    consultation = await consult(core, ctx, input_tokens=request.estimated_input_tokens())
    return consultation.decision


async def consult(
    core: EngineCore, ctx: TaskContext, *, input_tokens: int | None = None
) -> Consultation:
    """Plan, look up the cache, call the routing model if needed, emit one `RoutingCall`.

    `laneway route --explain` calls this directly to show the prompt and the reply.
    """
    router = EnhancedRouter(core.config, core.routing)
    plan = router.plan(ctx, input_tokens=input_tokens)
    if plan.skip_reason is not None:
        consultation = _fallback(router, plan, "skipped", plan.skip_reason)
    else:
        try:
            consultation = await _from_cache(core, router, plan) or await _call(core, router, plan)
        except Exception as exc:  # a routing bug must not fail the request: static decides
            reason = f"routing failed unexpectedly ({type(exc).__name__})"
            consultation = _fallback(router, plan, "failed", reason)
    core.bus.emit(
        RoutingCall(
            request_id=core.request_id_of(ctx),
            ts=core.clock.wall(),
            routing_model=plan.routing_model,
            status=consultation.status,
            reason=consultation.reason,
            chosen=consultation.chosen,
            reply=consultation.reply,
            cost_usd=consultation.cost_usd,
            latency_ms=consultation.latency_ms,
        )
    )
    return consultation


async def _from_cache(
    core: EngineCore, router: EnhancedRouter, plan: RoutingPlan
) -> Consultation | None:
    """A cached decision, re-judged against today's config; None on a miss or store error."""
    try:
        cached = await core.state.decisions.get(plan.cache_key, core.clock.wall())
    except LanewayError:
        return None  # a cache we cannot read is a miss, not a failure
    if cached is None:
        return None
    verdict = router.judge(plan, cached)
    if not verdict.accepted:
        return None  # e.g. the lane changed since: ask again
    return _consultation(plan, verdict, "cached", f"cache hit: {verdict.reason}", cached)


async def _call(core: EngineCore, router: EnhancedRouter, plan: RoutingPlan) -> Consultation:
    model = plan.routing_model
    problem = core.credential_problem(model.provider)
    if problem is not None:
        return _fallback(router, plan, "skipped", f"routing model {model} is not configured")
    started = core.clock.monotonic()
    try:
        answer = await _complete(core, plan)
    except ProviderError as exc:
        reason = f"routing model {model} failed ({exc.code.value})"
        return _fallback(router, plan, "failed", reason, latency_ms=_since(core, started))
    latency_ms = _since(core, started)
    cost = _cost(core, answer, model)
    verdict = router.judge(plan, answer.content)
    status: Status = "used" if verdict.accepted else "ignored"
    if verdict.accepted and verdict.reply is not None and plan.spec.cache_ttl_s > 0:
        await _remember(core, plan, encode_cached(verdict.reply))
    return _consultation(plan, verdict, status, verdict.reason, answer.content, cost, latency_ms)


async def _complete(core: EngineCore, plan: RoutingPlan) -> Answer:
    """One call under the routing deadline; a timeout becomes a `ProviderError`."""
    model = plan.routing_model
    adapter = core.adapter(model.provider)
    credentials = core.present_credentials(model.provider)
    timeout_s = plan.spec.timeout_s
    try:
        async with asyncio.timeout(timeout_s + _CANCEL_SLACK_S):
            return await adapter.complete(
                plan.request,
                model.model,
                timeout_s=timeout_s,
                credential=credentials[0] if credentials else None,
            )
    except TimeoutError as exc:
        raise ProviderError(
            f"no routing reply within {timeout_s:g}s",
            provider=model.provider,
            model=model.model,
            code=ErrorCode.TIMEOUT,
        ) from exc


async def _remember(core: EngineCore, plan: RoutingPlan, value: str) -> None:
    try:
        await core.state.decisions.set(
            plan.cache_key, value, ttl_s=plan.spec.cache_ttl_s, now=core.clock.wall()
        )
    except LanewayError:
        return  # not cached this time; the decision itself stands


def _cost(core: EngineCore, answer: Answer, model: ModelRef) -> float:
    usage = answer.usage
    if usage.cost_usd is not None:
        return usage.cost_usd
    price = core.model_info(model).price
    return 0.0 if price is None else price.cost_usd(usage.input_tokens, usage.output_tokens)


def _since(core: EngineCore, started: float) -> float:
    return (core.clock.monotonic() - started) * 1000


def _fallback(
    router: EnhancedRouter,
    plan: RoutingPlan,
    status: Status,
    reason: str,
    *,
    latency_ms: float = 0.0,
) -> Consultation:
    verdict = router.fallback(plan, reason)
    return _consultation(plan, verdict, status, reason, latency_ms=latency_ms)


def _consultation(
    plan: RoutingPlan,
    verdict: Verdict,
    status: Status,
    reason: str,
    reply: str | None = None,
    cost_usd: float = 0.0,
    latency_ms: float = 0.0,
) -> Consultation:
    chosen = verdict.reply.model if verdict.reply is not None else None
    return Consultation(plan, verdict.decision, status, reason, reply, chosen, cost_usd, latency_ms)
