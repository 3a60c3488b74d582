"""`policies:` applied to a routing decision, before any provider call: the I/O half.

`policies/` judges declaratively and purely; this module adds what needs the
event loop and the engine: calling hooks under their time limits, resolving a
hook's replacement, recording what changed (`PolicyApplied` events, the
decision's `policy` field, which the plan turns into `policy_denied:<name>`
skips) and failing with `PolicyDeniedError` when no candidate is left.

Order of evaluation, per candidate in decision order: the policies whose
`when:` holds, in config order; within a policy its declarative checks, then
its hook. The first deny stops; a replace puts another configured model in
the candidate's place, and that model goes through every policy again (a
replacement may not itself be replaced). A hook that raises, times out or
returns something else denies; it never fails the request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from typing import TYPE_CHECKING, Protocol

from laneway.budgets.bound import input_bound
from laneway.engine.plan import policy_skip_reason
from laneway.errors import PolicyDeniedError
from laneway.events import PolicyApplied, RoutingCall
from laneway.policies import (
    BudgetFacts,
    Deny,
    HookVerdict,
    Policy,
    Replace,
    as_verdict,
    first_denial,
    needs_budget,
)
from laneway.routing.selection import DEFAULT_INPUT_TOKENS
from laneway.types import (
    Attempt,
    CompletionRequest,
    ModelInfo,
    ModelRef,
    PolicyEvaluation,
    PolicyVerdict,
    RoutingDecision,
    TaskContext,
)

if TYPE_CHECKING:
    from laneway.clock import Clock
    from laneway.config.model import Config
    from laneway.engine.bus import EventBus
    from laneway.policies import PolicySet

log = logging.getLogger("laneway.policies")


class PolicyHost(Protocol):
    """What a review needs of the engine (`EngineCore`; `laneway route` builds a lighter one)."""

    config: Config
    clock: Clock
    bus: EventBus
    policies: PolicySet

    def model_info(self, model: ModelRef) -> ModelInfo: ...

    def request_id_of(self, ctx: TaskContext) -> str: ...


class Sized(Protocol):
    """What a review asks of the request: its input-token estimate (`CompletionRequest`)."""

    def estimated_input_tokens(self) -> int: ...


async def review_policies(
    core: PolicyHost,
    decision: RoutingDecision,
    ctx: TaskContext,
    request: Sized | None,
    *,
    verbose: bool = False,
) -> RoutingDecision:
    """The decision with denied candidates removed and replacements made; raises
    `PolicyDeniedError` when none is left. Unchanged (the same object) when no policy applies.

    `verbose` also records `allow` verdicts (for `route --explain`).
    """
    if not core.policies:
        return decision
    applicable = core.policies.applicable(ctx)
    if not applicable:
        return decision
    budget = _budget(core, ctx, request, applicable)
    hooks = core.policies.has_hooks and _has_hooks(applicable)
    if not verbose and budget is None and not hooks:
        kept_refs, denials = core.policies.review(applicable, decision.candidates, core.model_info)
        if not denials:
            return decision
        return _apply(core, decision, ctx, list(kept_refs), list(denials))
    review = _Review(core, ctx, applicable, budget, verbose)
    kept: list[ModelRef] = []
    for model in decision.candidates:
        final = await review.judge(model, replaced=False)
        if final is not None and final not in kept:
            kept.append(final)
    if not review.changes and not verbose:
        return decision
    return _apply(core, decision, ctx, kept, review.changes)


def _has_hooks(applicable: tuple[Policy, ...]) -> bool:
    return any(policy.hook is not None for policy in applicable)


def _apply(
    core: PolicyHost,
    decision: RoutingDecision,
    ctx: TaskContext,
    kept: list[ModelRef],
    changes: list[PolicyEvaluation],
) -> RoutingDecision:
    """The decision as the policies leave it; the changes emitted; none left: the error."""
    reviewed = dataclasses.replace(decision, policy=tuple(changes))
    if core.bus.wants(PolicyApplied):
        request_id, ts = core.request_id_of(ctx), core.clock.wall()
        for change in changes:
            if change.verdict in ("deny", "replace"):
                core.bus.emit(PolicyApplied(request_id, ts, change))
    if not kept:
        raise denied_error(core, reviewed, ctx)
    if kept == list(decision.candidates):
        return reviewed
    notes = "; ".join(c.describe() for c in changes if c.verdict in ("deny", "replace"))
    return dataclasses.replace(
        reviewed,
        model=kept[0],
        fallback_chain=tuple(kept[1:]),
        reasoning=f"{decision.reasoning}; policies: {notes}",
    )


async def routing_model_allowed(core: PolicyHost, ctx: TaskContext) -> bool:
    """May this request's task go to the llm_enhanced routing model?

    The routing model reads the task (phase, complexity, description), so a
    policy that keeps a request off a provider keeps its routing call off it
    too: the static decision is taken instead, and the skipped call is a
    `RoutingCall` event (status `skipped`). A hook's replace counts as a deny
    here: there is one routing model.
    """
    enhanced = core.config.spec.routing.llm_enhanced
    if enhanced is None or not core.policies:
        return True
    applicable = core.policies.applicable(ctx)
    if not applicable:
        return True
    model = ModelRef.parse(enhanced.routing_model)
    review = _Review(core, ctx, applicable, None, verbose=False)
    if await review.judge(model, replaced=True) is not None:
        return True
    change = review.changes[0]
    request_id, ts = core.request_id_of(ctx), core.clock.wall()
    if core.bus.wants(PolicyApplied):
        core.bus.emit(PolicyApplied(request_id, ts, change))
    reason = f"policy_denied:{change.policy}: {change.reason}"
    core.bus.emit(RoutingCall(request_id, ts, model, "skipped", reason))
    return False


def denied_error(
    core: PolicyHost, decision: RoutingDecision, ctx: TaskContext
) -> PolicyDeniedError:
    denials = [c for c in decision.policy if c.verdict == "deny"]
    denying = {c.policy for c in denials}
    names = [p.name for p in core.policies.policies if p.name in denying]  # config order
    error = PolicyDeniedError(
        f"lane {ctx.lane!r}: policies denied every candidate ({', '.join(names)}); "
        "no model was called",
        policies=names,
        reasons=[f"{c.candidate}: {c.policy}: {c.reason}" for c in denials],
    )
    skips = [
        Attempt(c.candidate, policy_skip_reason(c), 0, 0.0, skipped=True)
        for c in decision.policy
        if c.verdict in ("deny", "replace")
    ]
    error.attach(
        request_id=core.request_id_of(ctx),
        decision=decision,
        trace=[f"{a.model}:{a.code}" for a in skips],
        attempts=skips,
    )
    return error


def _budget(
    core: PolicyHost,
    ctx: TaskContext,
    request: Sized | None,
    applicable: tuple[Policy, ...],
) -> BudgetFacts | None:
    """The limit budget-aware selection uses (lane per task, what the caller/job has left)."""
    if not needs_budget(applicable):
        return None
    lane = core.config.lanes.get(ctx.lane)
    per_task = lane.spec.budget.usd_per_task if lane and lane.spec.budget else None
    limits = [x for x in (per_task, ctx.budget_remaining_usd) if x is not None]
    if not limits:
        return None
    lane_max = lane.spec.max_output_tokens if lane else None
    if isinstance(request, CompletionRequest):
        return BudgetFacts(min(limits), input_bound(request), request.max_tokens, lane_max)
    tokens = request.estimated_input_tokens() if request is not None else DEFAULT_INPUT_TOKENS
    return BudgetFacts(min(limits), tokens, None, lane_max)


class _Review:
    """One decision's review: every candidate judged once, every change recorded."""

    def __init__(
        self,
        core: PolicyHost,
        ctx: TaskContext,
        applicable: tuple[Policy, ...],
        budget: BudgetFacts | None,
        verbose: bool,
    ) -> None:
        self.core = core
        self.ctx = ctx
        self.applicable = applicable
        self.budget = budget
        self.verbose = verbose
        self.has_hooks = any(p.hook is not None for p in applicable)
        self.changes: list[PolicyEvaluation] = []
        self._judged: dict[ModelRef, ModelRef | None] = {}

    async def judge(self, model: ModelRef, *, replaced: bool) -> ModelRef | None:
        """The model to try in this candidate's place (itself or a replacement), or None."""
        if model in self._judged:
            return self._judged[model]
        info = self.core.model_info(model)
        if not self.has_hooks and not self.verbose:  # declarative only: no await, no loop
            denial = first_denial(self.applicable, info, self.budget)
            if denial is not None:
                self._note(denial[0].name, model, "deny", denial[1])
            final = None if denial is not None else model
        else:
            final = await self._judge_each(model, info, replaced=replaced)
        self._judged[model] = final
        return final

    async def _judge_each(
        self, model: ModelRef, info: ModelInfo, *, replaced: bool
    ) -> ModelRef | None:
        for policy in self.applicable:
            reason = policy.check(info, self.budget)
            if reason is not None:
                self._note(policy.name, model, "deny", reason)
                return None
            if policy.hook is None:
                if self.verbose:
                    self._note(policy.name, model, "allow", "")
                continue
            verdict = await call_hook(self.core, policy, self.ctx, info)
            if isinstance(verdict, Deny):
                self._note(policy.name, model, "deny", verdict.reason)
                return None
            if isinstance(verdict, Replace):
                return await self._replace(policy, model, verdict, replaced=replaced)
            if self.verbose:
                self._note(policy.name, model, "allow", verdict.reason)
        return model

    async def _replace(
        self, policy: Policy, model: ModelRef, verdict: Replace, *, replaced: bool
    ) -> ModelRef | None:
        target = verdict.model
        problem = None
        if replaced:
            problem = "a replacement may not be replaced again"
        elif target.provider not in self.core.config.providers:
            problem = f"replacement {target} names no configured provider"
        if problem is not None:
            self._note(policy.name, model, "deny", f"{problem} ({verdict.reason})")
            return None
        if target == model:
            return model
        self._note(policy.name, model, "replace", verdict.reason, target)
        return await self.judge(target, replaced=True)

    def _note(
        self,
        policy: str,
        model: ModelRef,
        verdict: PolicyVerdict,
        reason: str,
        replacement: ModelRef | None = None,
    ) -> None:
        self.changes.append(PolicyEvaluation(policy, model, verdict, reason, replacement))


async def call_hook(
    core: PolicyHost, policy: Policy, ctx: TaskContext, info: ModelInfo
) -> HookVerdict:
    """The hook's verdict; a hook that raises, overruns its limit or answers nonsense denies."""
    assert policy.hook is not None
    hook = core.config.policy_hooks[policy.hook]
    limit = policy.hook_timeout_s
    started = core.clock.monotonic()
    try:
        async with asyncio.timeout(limit):
            result = hook(ctx, info)
            if inspect.isawaitable(result):
                result = await result
    except TimeoutError:
        return Deny(f"hook {policy.hook} did not answer within its {limit:g}s limit")
    except Exception as exc:
        log.warning("policy %r: hook %s raised %s", policy.name, policy.hook, type(exc).__name__)
        return Deny(f"hook {policy.hook} raised {type(exc).__name__}")
    elapsed = core.clock.monotonic() - started
    if elapsed > limit:
        return Deny(f"hook {policy.hook} took {elapsed:.3g}s, over its {limit:g}s limit")
    return as_verdict(result)
