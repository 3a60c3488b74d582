"""One request's attempt loop: candidates in decision order, retries, rotation, fallback.

`RequestRun` keeps the request's story (trace, attempts, errors) and applies
the policies: breaker admission, budget reservation, the retry table, the
lane's deadline. The same failures always lead to the same next model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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
from laneway.resilience.deadline import Deadline
from laneway.resilience.retry import decide_after_failure
from laneway.types import (
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
    from laneway.engine.core import EngineCore
    from laneway.resilience.breaker import Transition

Action = Literal["next_model", "skip_provider", "larger_context", "stop", "deadline"]


@dataclass
class Slot:
    """A candidate admitted by the breaker and the budget, ready to be tried."""

    candidate: Candidate
    probe: bool
    reservation: Reservation | None


class RequestRun:
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
        self.deadline_hit = False
        self._skipped_providers: dict[str, str] = {}
        self._min_context: int | None = None
        # the clock's own functions, not methods around them: read ~6 times a request
        self._now = core.clock.monotonic
        #: for event timestamps and breakers (shared by replicas through Redis: wall time)
        self._wall = core.clock.wall
        self.deadline = Deadline(
            start=self._now(), total_s=lane.total_timeout_s, attempt_s=lane.attempt_timeout_s
        )

    # -- bookkeeping ------------------------------------------------------

    def _attempt_budget(self, model: ModelRef) -> float:
        """The lane's per-attempt limit, the provider's cap, and what is left of the deadline."""
        budget = self.deadline.attempt_budget(self._now())
        cap = self.core.attempt_cap_s(model.provider)
        return budget if cap is None else min(budget, cap)

    def skip(self, model: ModelRef, reason: str) -> None:
        self.attempts.append(Attempt(model, reason, 0, 0.0, skipped=True))
        self.trace.append(f"{model}:{reason}")
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

    def _note_retry(
        self, model: ModelRef, credential: Credential | None, code: str, delay_s: float
    ) -> None:
        label = credential.label if credential is not None else model.provider
        self.trace.append(f"{label}/{model.model}:retry")
        if self.core.bus.active:
            self.core.bus.emit(RetryScheduled(self.request_id, self._wall(), model, code, delay_s))

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

    # -- candidates ---------------------------------------------------------

    def _plan(self) -> list[Candidate]:
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

    async def _admit(self, candidate: Candidate) -> Slot | None:
        model = candidate.model
        if model.provider in self._skipped_providers:
            self.skip(model, self._skipped_providers[model.provider])
            return None
        window = candidate.info.context_window
        if self._min_context is not None and (window is None or window <= self._min_context):
            self.skip(model, "context_too_small")
            return None
        if self.deadline.expired(self._now()):
            self.deadline_hit = True
            self.skip(model, "deadline_exhausted")
            return None
        admission = await self.core.breakers.admit(str(model), self._wall())
        self._emit_transitions(model, admission.transitions)
        if not admission.allowed:
            self.skip(model, "circuit_open")
            return None
        try:
            reservation = await self.core.reserve(self.request, self.ctx, self.lane, candidate)
        except BudgetExceededError as exc:
            if admission.probe:
                await self.core.breakers.release_probe(str(model))
            self.budget_errors.append(exc)
            self.skip(model, "over_budget")
            return None
        if reservation is not None:
            self._emit_budget("reserve", reservation.amount_usd, reservation.tokens)
        return Slot(candidate, admission.probe, reservation)

    def _emit_budget(
        self, action: Literal["reserve", "commit", "refund"], usd: float, tokens: int
    ) -> None:
        if not self.core.bus.active:
            return
        scope = f"job:{self.ctx.job_id}" if self.ctx.job_id else "task"
        self.core.bus.emit(BudgetChanged(self.request_id, self._wall(), action, scope, usd, tokens))

    async def _release(self, slot: Slot, *, success: Completion | None) -> None:
        """Commit or refund the slot's budget; always runs, even on cancellation."""
        if slot.reservation is None:
            return
        if success is None:
            await self.core.ledger.refund(slot.reservation)
            self._emit_budget("refund", slot.reservation.amount_usd, slot.reservation.tokens)
            return
        cost = success.usage.cost_usd or 0.0
        await self.core.ledger.commit(slot.reservation, cost, success.usage.total_tokens)
        self._emit_budget("commit", cost, success.usage.total_tokens)

    # -- failures -----------------------------------------------------------

    async def _on_failure(
        self, slot: Slot, error: ProviderError, number: int, can_rotate: bool
    ) -> tuple[Action | None, float]:
        """Record a failed call; return (None, delay) to retry, or the action to take."""
        model = slot.candidate.model
        self.errors.append(error)
        transitions = await self.core.breakers.record_failure(str(model), error.code, self._wall())
        self._emit_transitions(model, transitions)
        if can_rotate and error.code in (ErrorCode.RATE_LIMIT, ErrorCode.AUTH):
            return None, 0.0
        if slot.probe:
            return "next_model", 0.0
        decision = decide_after_failure(
            error,
            attempt=number,
            table=self.lane.retry_table,
            remaining_s=self.deadline.remaining(self._now()),
            backoff=self.core.backoff,
        )
        then = decision.then
        if then is None:
            return None, decision.delay_s
        if then == "skip_provider":
            self._skipped_providers[model.provider] = error.code.value
        elif then == "larger_context":
            self._min_context = slot.candidate.info.context_window or 0
        return then, 0.0

    async def _after_failure(
        self,
        slot: Slot,
        error: ProviderError,
        number: int,
        elapsed_ms: float,
        credential: Credential | None,
        can_rotate: bool,
    ) -> Action | Literal["retry", "rotate"]:
        """Record a failed call and say what comes next; a retry's wait happens here."""
        model = slot.candidate.model
        action, delay_s = await self._on_failure(slot, error, number, can_rotate)
        self._record(
            model,
            error.code.value,
            number,
            elapsed_ms,
            retried=action is None,
            credential=credential,
        )
        if action is not None:
            return action
        if can_rotate and error.code in (ErrorCode.RATE_LIMIT, ErrorCode.AUTH):
            return "rotate"
        self._note_retry(model, credential, error.code.value, delay_s)
        await self.core.clock.sleep(delay_s)
        return "retry"

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
        for candidate in self._plan():
            slot = await self._admit(candidate)
            if slot is None:
                continue
            result: Completion | None = None
            try:
                result, action = await self._try(slot)
            finally:
                await self._release(slot, success=result)
            if result is not None:
                return result
            if action == "stop":
                raise self.attach(self.errors[-1])
        raise self.exhausted()

    async def _try(self, slot: Slot) -> tuple[Completion | None, Action | None]:
        """Call one model, retrying and rotating credentials as the rules say."""
        model = slot.candidate.model
        adapter = self.core.adapters[model.provider]
        credentials = self.core.present_credentials(model.provider)
        index, number = 0, 0
        while True:
            number += 1
            credential = credentials[index] if credentials else None
            timeout_s = self._attempt_budget(model)
            if timeout_s <= 0:
                self.deadline_hit = True
                return None, "deadline"
            started = self._now()
            call = adapter.complete(
                self.request, model.model, timeout_s=timeout_s, credential=credential
            )
            try:
                if adapter.enforces_timeout:
                    completion = await call
                else:  # an adapter that cannot end itself gets the engine's timer
                    async with asyncio.timeout(timeout_s + 0.05):
                        completion = await call
                error: ProviderError | None = None
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = timeout_error(model, f"no answer within {timeout_s:.1f}s")
            except asyncio.CancelledError:
                if slot.probe:
                    await self.core.breakers.release_probe(str(model))
                raise
            elapsed_ms = (self._now() - started) * 1000
            if error is None:
                accepted = await self._accept(slot, completion, number, elapsed_ms, credential)
                return accepted, None if accepted else "next_model"
            can_rotate = index + 1 < len(credentials)
            step = await self._after_failure(
                slot, error, number, elapsed_ms, credential, can_rotate
            )
            if step == "rotate":
                index, number = index + 1, 0
            elif step != "retry":
                return None, step

    async def _accept(
        self,
        slot: Slot,
        completion: Completion,
        number: int,
        elapsed_ms: float,
        credential: Credential | None,
    ) -> Completion | None:
        """Validate a provider's answer; None when it is rejected (the next model is tried)."""
        model = slot.candidate.model
        transitions = await self.core.breakers.record_success(str(model), self._wall())
        self._emit_transitions(model, transitions)
        try:
            validate_output(completion, self.policy)
        except OutputRejectedError as rejection:
            self.rejection = rejection
            self._record(
                model,
                rejection.code.value,
                number,
                elapsed_ms,
                retried=False,
                credential=credential,
            )
            return None
        self._record(model, "success", number, elapsed_ms, retried=False, credential=credential)
        return self._finalize(completion, slot, elapsed_ms, credential)

    def _finalize(
        self,
        completion: Completion,
        slot: Slot,
        elapsed_ms: float,
        credential: Credential | None,
    ) -> Completion:
        """The completion as the caller sees it: priced, timed, with its story attached.

        It names the configured model that served; the upstream's own name for it
        is kept as `provider_model`.
        """
        served = slot.candidate.model
        return Completion(
            content=completion.content,
            provider=served.provider,
            model=served.model,
            finish_reason=completion.finish_reason,
            tool_calls=completion.tool_calls,
            usage=self.core.priced(completion.usage, slot.candidate),
            latency_ms=elapsed_ms,
            decision=self.decision,
            trace=tuple(self.trace),
            attempts=tuple(self.attempts),
            request_id=self.request_id,
            credential=credential.label if credential is not None else None,
            provider_model=completion.provider_model or completion.model,
            wire=completion.wire,
        )


def timeout_error(model: ModelRef, message: str) -> ProviderError:
    """The engine's own per-attempt timeout, as the provider error it stands for."""
    return ProviderError(
        message, provider=model.provider, model=model.model, code=ErrorCode.TIMEOUT, retryable=True
    )
