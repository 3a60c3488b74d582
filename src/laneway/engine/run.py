"""One request's attempt loop: the attempt plan performed, for `complete` and `stream` alike.

The plan (`resilience.attempts.AttemptPlan`) decides which model, which
credential profile, how long and what next; `RequestRun._run` performs it:
before every call it asks the credential quarantine and the breaker (in one
round trip to the state store) and, once per candidate, the budget, then
calls, then records what the call says about the provider's health and the
credential. The same failures always lead to the same next model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TypeVar

from laneway.budgets.bound import bound, output_bound, output_that_fits
from laneway.budgets.ledger import lane_scopes
from laneway.engine.plan import Candidate, required_capabilities
from laneway.engine.validation import OutputPolicy, validate_output
from laneway.errors import (
    BudgetExceededError,
    ErrorCode,
    LanewayError,
    OutputRejectedError,
    ProviderError,
    RoutingExhaustedError,
)
from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    BudgetChanged,
    CandidateSkipped,
    RetryScheduled,
)
from laneway.resilience.attempts import AttemptPlan, Call, Done, Refusal, Skip
from laneway.resilience.breaker import counts_against_health
from laneway.resilience.deadline import Deadline
from laneway.types import (
    Answer,
    Attempt,
    Completion,
    CompletionRequest,
    ModelRef,
    RoutingDecision,
    TaskContext,
)

if TYPE_CHECKING:
    from laneway.budgets.ledger import Reservation
    from laneway.config.credentials import Credential
    from laneway.config.model import Lane
    from laneway.config.schema import BudgetSpec
    from laneway.engine.core import EngineCore
    from laneway.resilience.breaker import Transition

T = TypeVar("T")
R = TypeVar("R")


class _Rejected:
    """The model answered, but the answer was refused (schema, validators, PII)."""


REJECTED = _Rejected()


@dataclass(slots=True)
class Slot:
    """A candidate being tried: its budget reservation, the request as sent, this call's gates."""

    candidate: Candidate
    index: int
    request: CompletionRequest  # max_tokens set when a budget needs an output bound
    #: the candidate's breaker ("provider/model")
    breaker: str
    reservation: Reservation | None = None
    probe: bool = False  # this call is the breaker's half-open probe
    credential_probe: bool = False  # ... the quarantined credential's one probe
    credential: Credential | None = None
    #: the credential's label, else the provider: the quarantine's key and the trace's name
    label: str = ""


class RequestRun:
    __slots__ = (
        "_now",
        "_wall",
        "attempts",
        "budget_errors",
        "core",
        "ctx",
        "deadline",
        "decision",
        "errors",
        "lane",
        "plan",
        "policy",
        "rejection",
        "request",
        "request_id",
        "streaming",
        "trace",
    )

    def __init__(
        self,
        core: EngineCore,
        request: CompletionRequest,
        ctx: TaskContext,
        lane: Lane,
        decision: RoutingDecision,
        policy: OutputPolicy,
        *,
        request_id: str,
        streaming: bool = False,
    ) -> None:
        self.core = core
        self.request = request
        self.ctx = ctx
        self.lane = lane
        self.decision = decision
        self.policy = policy
        self.request_id = request_id
        self.streaming = streaming
        self.trace: list[str] = []
        self.attempts: list[Attempt] = []
        self.errors: list[ProviderError] = []
        self.rejection: OutputRejectedError | None = None
        self.budget_errors: list[BudgetExceededError] = []
        self._now = core.clock.monotonic
        #: for event timestamps, breakers and quarantines (shared by replicas: wall time)
        self._wall = core.clock.wall
        self.deadline = Deadline(self._now(), lane.total_timeout_s, lane.attempt_timeout_s)
        self.plan: AttemptPlan | None = None

    @property
    def deadline_hit(self) -> bool:
        return self.plan is not None and self.plan.deadline_hit

    # -- bookkeeping ------------------------------------------------------

    def skip(self, model: ModelRef, reason: str, credential: Credential | None = None) -> None:
        self.attempts.append(Attempt(model, reason, 0, 0.0, skipped=True))
        label = model.provider if credential is None else credential.label
        self.trace.append(f"{label}/{model.model}:{reason}")
        if self.core.bus.active:
            self.core.bus.emit(CandidateSkipped(self.request_id, self._wall(), model, reason))

    def _record(
        self,
        model: ModelRef,
        code: str,
        number: int,
        elapsed_ms: float,
        *,
        retried: bool,
        credential: Credential | None,
    ) -> None:
        label = credential.label if credential is not None else model.provider
        attempt = Attempt(model, code, number, elapsed_ms, retried, credential=label)
        self.attempts.append(attempt)
        self.trace.append(f"{label}/{model.model}:{code}")
        if self.core.bus.wants(AttemptFinished):
            self.core.bus.emit(AttemptFinished(self.request_id, self._wall(), attempt))

    def _emit_transitions(self, model: ModelRef, transitions: tuple[Transition, ...]) -> None:
        for change in transitions:
            self.core.bus.emit(BreakerChanged(self._wall(), model, change.old, change.new))

    def attach(self, error: LanewayError) -> LanewayError:
        return error.attach(
            request_id=self.request_id,
            decision=self.decision,
            trace=self.trace,
            attempts=self.attempts,
        )

    # -- the plan -------------------------------------------------------------

    def _candidates(self) -> list[Candidate]:
        required = required_capabilities(
            self.request, self.ctx, self.lane, streaming=self.streaming
        )
        candidates, skips = self.core.plan(self.decision, required)
        for skipped in skips:
            self.skip(skipped.model, skipped.reason)
        if not candidates:
            problems = [s.detail for s in skips if s.reason == "not_configured"]
            if problems and len(problems) == len(skips):
                first = skips[0].model
                raise self.attach(
                    ProviderError(
                        "; ".join(dict.fromkeys(problems)),
                        provider=first.provider,
                        model=first.model,
                        code=ErrorCode.NOT_CONFIGURED,
                    )
                )
        return candidates

    def _new_plan(self, candidates: list[Candidate]) -> AttemptPlan:
        core = self.core
        self.plan = AttemptPlan(
            [c.info for c in candidates],
            deadline=self.deadline,
            table=self.lane.retry_table,
            backoff=core.backoff,
            profiles=lambda provider: len(core.present_credentials(provider)),
            attempt_cap_s=core.attempt_cap_s,
        )
        return self.plan

    async def _run(
        self,
        call: Callable[[Slot, Call], Awaitable[T | ProviderError]],
        accept: Callable[[Slot, Call, T, float], Awaitable[R | _Rejected]],
        *,
        settle_on_answer: bool,
        candidates: list[Candidate] | None = None,
        request: CompletionRequest | None = None,
    ) -> tuple[R, Slot] | None:
        """Perform the plan: gates, calls, outcomes. The winner's slot is the caller's to
        release; every other slot is released here. `settle_on_answer` False leaves the
        winner's breaker and credential verdicts to the caller (a stream's end)."""
        if candidates is None:
            candidates = self._candidates()
        plan = self._new_plan(candidates)
        sent = self.request if request is None else request
        slot: Slot | None = None
        last: tuple[Call, ProviderError] | None = None
        try:
            while True:
                step = plan.next(self._now())
                if not isinstance(step, Call):
                    if isinstance(step, Done):
                        if step.stop and self.errors:
                            raise self.attach(self.errors[-1])
                        return None
                    if isinstance(step, Skip):
                        self.skip(step.model, step.reason)
                    else:  # Wait: a same-model retry's backoff
                        if last is not None:
                            self._note_retry(last[0], last[1], step.delay_s, slot)
                        await self.core.clock.sleep(step.delay_s)
                    continue
                if slot is not None and slot.index != step.candidate:
                    await self._release(slot, success=None)
                    slot = None
                if slot is None:
                    candidate = candidates[step.candidate]
                    request = self._as_sent(sent, candidate)
                    slot = Slot(candidate, step.candidate, request, str(candidate.model))
                refusal = await self._gate(slot, step)
                if refusal is not None:
                    plan.refused(step, refusal)
                    continue
                started = self._now()
                try:
                    outcome = await call(slot, step)
                except asyncio.CancelledError:
                    await self._release_probes(slot)
                    raise
                elapsed_ms = (self._now() - started) * 1000
                if isinstance(outcome, ProviderError):
                    last = (step, outcome)
                    await self._on_failure(plan, slot, step, outcome, elapsed_ms)
                    if plan.stopped:
                        raise self.attach(self.errors[-1])
                    continue
                if settle_on_answer:
                    await self._settle(slot, None)
                accepted = await accept(slot, step, outcome, elapsed_ms)
                if isinstance(accepted, _Rejected):
                    plan.rejected()
                    continue
                plan.succeeded()
                winner, slot = slot, None
                return accepted, winner
        finally:
            if slot is not None:
                await self._release(slot, success=None)

    def _as_sent(self, request: CompletionRequest, candidate: Candidate) -> CompletionRequest:
        """The request as this model gets it: with an output bound when a budget needs one."""
        lane_max = self.lane.spec.max_output_tokens
        if request.max_tokens is None and (self.lane.spec.budget is not None or lane_max):
            return replace(request, max_tokens=output_bound(request, candidate.info, lane_max))
        return request

    # -- gates: quarantine, breaker, budget ---------------------------------------

    async def _gate(self, slot: Slot, step: Call) -> Refusal | None:
        """Ask before the call; a refusal is recorded as a skip and nothing is called."""
        model = step.model
        credentials = self.core.present_credentials(model.provider)
        credential = slot.credential = credentials[step.profile] if credentials else None
        slot.label = model.provider if credential is None else credential.label
        slot.probe = slot.credential_probe = False
        cooldown_s = self.core.config.spec.breaker.auth_cooldown_s
        verdict, admission = await self.core.breakers.gate(
            slot.breaker, slot.label, self._wall(), cooldown_s
        )
        if admission is None:  # the credential is quarantined: the breaker was not asked
            self.skip(model, "auth_quarantined", credential)
            return "auth_quarantined"
        slot.credential_probe = verdict == "probe"
        self._emit_transitions(model, admission.transitions)
        if not admission.allowed:
            await self._release_probes(slot)
            self.skip(model, "circuit_open")
            return "circuit_open"
        slot.probe = admission.probe
        budget = self.lane.spec.budget
        if budget is not None and slot.reservation is None:  # the candidate's first call
            try:
                await self._reserve(slot, budget)
            except BudgetExceededError as exc:
                await self._release_probes(slot)
                self.budget_errors.append(exc)
                self.skip(model, "over_budget")
                return "over_budget"
        return None

    async def _release_probes(self, slot: Slot) -> None:
        """The call will not give a verdict: let the next request probe instead."""
        if slot.probe:
            slot.probe = False
            await self.core.breakers.release_probe(slot.breaker)
        if slot.credential_probe:
            slot.credential_probe = False
            await self.core.state.quarantines.apply(slot.label, "release", self._wall(), 0.0)

    async def _settle(self, slot: Slot, error: ProviderError | None) -> None:
        """What one call says of the provider's health and of the credential."""
        wall = self._wall()
        if error is None:
            transitions = await self.core.breakers.record_success(slot.breaker, wall)
        else:
            transitions = await self.core.breakers.record_failure(slot.breaker, error.code, wall)
        slot.probe = False
        self._emit_transitions(slot.candidate.model, transitions)
        quarantines = self.core.state.quarantines
        cooldown_s = self.core.config.spec.breaker.auth_cooldown_s
        if error is not None and error.code is ErrorCode.AUTH:
            await quarantines.apply(slot.label, "bar", wall, cooldown_s)
        elif slot.credential_probe:
            op: Literal["clear", "release"] = (
                "release" if error is not None and counts_against_health(error.code) else "clear"
            )
            await quarantines.apply(slot.label, op, wall, cooldown_s)
        slot.credential_probe = False

    async def _reserve(self, slot: Slot, budget: BudgetSpec) -> None:
        """Reserve the sent request's worst case under the lane's `budget`, or lower its
        max_tokens to what fits (`budget.fit: clamp_output`), or raise `BudgetExceededError`."""
        scopes = lane_scopes(budget, task_id=self.request_id, job_id=self.ctx.job_id)
        if not scopes:
            return
        info = slot.candidate.info
        worst = bound(slot.request, info)
        ledger = self.core.ledger
        try:
            slot.reservation = await ledger.reserve(scopes, worst.cost_usd, worst.tokens)
        except BudgetExceededError:
            if budget.fit != "clamp_output":
                raise
            usd_left: float | None = None
            tokens_left: int | None = None
            for scope in scopes:
                left = await ledger.remaining(scope)
                if left.usd is not None:
                    usd_left = left.usd if usd_left is None else min(usd_left, left.usd)
                if left.tokens is not None:
                    tokens_left = (
                        left.tokens if tokens_left is None else min(tokens_left, left.tokens)
                    )
            fits = output_that_fits(
                worst.tokens_in, info.price, usd_left=usd_left, tokens_left=tokens_left
            )
            if fits < 1 or fits >= worst.tokens_out:
                raise
            slot.request = replace(slot.request, max_tokens=fits)
            worst = bound(slot.request, info)
            slot.reservation = await ledger.reserve(scopes, worst.cost_usd, worst.tokens)
            self.trace.append(f"{slot.candidate.model}:clamp_output(max_tokens={fits})")
        self._emit_budget("reserve", slot.reservation.amount_usd, slot.reservation.tokens)

    def _emit_budget(
        self, action: Literal["reserve", "commit", "refund"], usd: float, tokens: int
    ) -> None:
        if not self.core.bus.active:
            return
        scope = f"job:{self.ctx.job_id}" if self.ctx.job_id else "task"
        self.core.bus.emit(BudgetChanged(self.request_id, self._wall(), action, scope, usd, tokens))

    async def _release(self, slot: Slot, *, success: Completion | None) -> None:
        """Commit the reported usage or refund the reservation; always runs, even on cancel."""
        reservation = slot.reservation
        if reservation is None:
            return
        slot.reservation = None
        if success is None:
            await self.core.ledger.refund(reservation)
            self._emit_budget("refund", reservation.amount_usd, reservation.tokens)
            return
        cost = success.usage.cost_usd or 0.0
        await self.core.ledger.commit(reservation, cost, success.usage.total_tokens)
        self._emit_budget("commit", cost, success.usage.total_tokens)

    # -- failures -----------------------------------------------------------

    async def _on_failure(
        self, plan: AttemptPlan, slot: Slot, step: Call, error: ProviderError, elapsed_ms: float
    ) -> None:
        self.errors.append(error)
        probe = slot.probe
        await self._settle(slot, error)
        after = plan.failed(step, error, self._now(), probe=probe)
        self._record(
            step.model,
            error.code.value,
            step.number,
            elapsed_ms,
            retried=after in ("retry", "rotate"),
            credential=slot.credential,
        )

    def _note_retry(
        self, step: Call, error: ProviderError, delay_s: float, slot: Slot | None
    ) -> None:
        credential = slot.credential if slot is not None else None
        label = credential.label if credential is not None else step.model.provider
        self.trace.append(f"{label}/{step.model.model}:retry")
        if self.core.bus.active:
            self.core.bus.emit(
                RetryScheduled(self.request_id, self._wall(), step.model, error.code.value, delay_s)
            )

    def exhausted(self) -> LanewayError:
        """The error for a request whose every candidate failed or was skipped."""
        tried = [a for a in self.attempts if not a.skipped]
        if not tried and self.budget_errors and not self.errors:
            return self.attach(self.budget_errors[0])
        if self.rejection is not None and tried and tried[-1].code == self.rejection.code.value:
            return self.attach(self.rejection)
        lane = self.lane.name
        if self.deadline_hit:
            message = f"lane {lane!r}: the deadline of {self.lane.total_timeout_s:g}s ran out"
        else:
            message = f"lane {lane!r}: every candidate model failed or was skipped"
        error = RoutingExhaustedError(
            message,
            attempts=self.attempts,
            decision=self.decision,
            trace=self.trace,
            errors=self.errors,
            deadline_exhausted=self.deadline_hit,
        )
        return self.attach(error)

    # -- complete -------------------------------------------------------------

    async def complete(self) -> Completion:
        won = await self._run(self._call, self._accept, settle_on_answer=True)
        if won is None:
            raise self.exhausted()
        completion, slot = won
        await self._release(slot, success=completion)
        return completion

    async def _call(self, slot: Slot, step: Call) -> Answer | ProviderError:
        adapter = self.core.adapters[step.model.provider]
        call = adapter.complete(
            slot.request, step.model.model, timeout_s=step.timeout_s, credential=slot.credential
        )
        try:
            if adapter.enforces_timeout:
                return await call
            async with asyncio.timeout(step.timeout_s + 0.05):  # an adapter that cannot end itself
                return await call
        except ProviderError as exc:
            return exc
        except TimeoutError:
            return timeout_error(step.model, f"no answer within {step.timeout_s:.1f}s")

    async def _accept(
        self, slot: Slot, step: Call, answer: Answer, elapsed_ms: float
    ) -> Completion | _Rejected:
        """Validate a provider's answer; rejected answers move on to the next model."""
        model = step.model
        try:
            validate_output(answer, self.policy)
        except OutputRejectedError as rejection:
            self.rejection = rejection
            self._record(
                model,
                rejection.code.value,
                step.number,
                elapsed_ms,
                retried=False,
                credential=slot.credential,
            )
            return REJECTED
        self._record(
            model, "success", step.number, elapsed_ms, retried=False, credential=slot.credential
        )
        return self._finalize(answer, slot, elapsed_ms)

    def _finalize(self, answer: Answer | Completion, slot: Slot, elapsed_ms: float) -> Completion:
        """The answer as the caller sees it: priced, timed, with its story attached.

        It names the configured model that served; the upstream's own name for it
        is kept as `provider_model`.
        """
        served = slot.candidate.model
        return Completion(
            content=answer.content,
            provider=served.provider,
            model=served.model,
            finish_reason=answer.finish_reason,
            tool_calls=answer.tool_calls,
            usage=self.core.priced(answer.usage, slot.candidate),
            latency_ms=elapsed_ms,
            decision=self.decision,
            trace=tuple(self.trace),
            attempts=tuple(self.attempts),
            request_id=self.request_id,
            credential=None if slot.credential is None else slot.label,
            provider_model=answer.provider_model or served.model,
            wire=answer.wire,
        )


def timeout_error(model: ModelRef, message: str) -> ProviderError:
    """The engine's own per-attempt timeout, as the provider error it stands for."""
    return ProviderError(
        message, provider=model.provider, model=model.model, code=ErrorCode.TIMEOUT, retryable=True
    )
