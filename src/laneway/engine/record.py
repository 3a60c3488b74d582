"""The request's record: the events that open and close it, and its degraded outcome.

Events are built only when someone listens (audit, metrics, tracing, tests),
so a gateway nobody observes pays nothing for them.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

import orjson

from laneway.audit.sink import REFUSED_BY
from laneway.errors import (
    BudgetExceededError,
    ConfigError,
    ErrorCode,
    LanewayError,
    OutputRejectedError,
    PolicyDeniedError,
    ProviderError,
    RequestError,
    RoutingExhaustedError,
)
from laneway.events import RequestFinished, RequestStarted, RequestStatus
from laneway.state.base import StateError
from laneway.types import Completion, CompletionRequest, Outcome, TaskContext

if TYPE_CHECKING:
    from laneway.engine.core import EngineCore


class Recorder:
    def __init__(self, core: EngineCore) -> None:
        self._core = core
        #: successes whose RequestFinished waits for the loop's next pass (`success_after`)
        self._due: list[tuple[TaskContext, Completion, float, float]] = []

    async def start(self, request: CompletionRequest, ctx: TaskContext) -> None:
        """RequestStarted: to subscribers, and to the audit sink (a `pending` row when strict).

        Successes still waiting (`success_after`) are emitted first: a caller that
        asks again at once sees the earlier request filed before the next one
        starts, and a strict start finds itself alone in flight when it is.
        """
        if self._due:
            self.emit_due()
        core = self._core
        if core.audit is None:
            if not core.bus.active:
                return
            digest = ""  # the hashes are for the audit log: none, no hashing
            content = "" if core.store_content else None
        else:
            payload = payload_json(request)  # hashed as bytes: a long prompt is not re-encoded
            digest = hashlib.sha256(payload).hexdigest()
            content = payload.decode() if core.store_content else None
        event = RequestStarted(core.request_id_of(ctx), core.clock.wall(), ctx, digest, content)
        core.bus.emit(event)
        if core.audit is not None:
            await core.audit.start(event)

    def success(self, ctx: TaskContext, completion: Completion, started: float) -> None:
        if not self._core.bus.active:
            return
        clock = self._core.clock
        self._succeeded(ctx, completion, clock.monotonic() - started, clock.wall())

    def success_after(self, ctx: TaskContext, completion: Completion, started: float) -> None:
        """`success`, with its event emitted on the loop's next pass, once the caller has
        the completion: audit rows and metrics need not delay the answer (a server
        writes its response first; docs/performance.md, `## Server`).

        Its duration and time are taken now. `emit_due()` emits what is still waiting.
        """
        if not self._core.bus.active:
            return
        clock = self._core.clock
        due = self._due
        if not due:
            asyncio.get_running_loop().call_soon(self.emit_due)
        due.append((ctx, completion, clock.monotonic() - started, clock.wall()))

    def emit_due(self) -> None:
        """Emit the successes `success_after` deferred (the loop's callback; `aclose`)."""
        due, self._due = self._due, []
        for ctx, completion, elapsed_s, ts in due:
            self._succeeded(ctx, completion, elapsed_s, ts)

    def _succeeded(
        self, ctx: TaskContext, completion: Completion, elapsed_s: float, ts: float
    ) -> None:
        status: RequestStatus = "rejected" if completion.provider == "laneway" else "success"
        self._core.bus.emit(
            RequestFinished(
                request_id=self._core.request_id_of(ctx),
                ts=ts,
                context=ctx,
                status=status,
                duration_ms=elapsed_s * 1000,
                decision=completion.decision,
                model=completion.model_ref,
                attempts=completion.attempts,
                trace=completion.trace,
                usage=completion.usage,
                output_sha256=None if self._core.audit is None else _sha256(completion.content),
                output=completion.content if self._core.store_content else None,
                provider_model=completion.provider_model,
            )
        )

    def refused(self, ctx: TaskContext, error: LanewayError) -> None:
        """A request refused before its start (unknown lane, unusable schema, no messages):
        its only row, `rejected`, with no pending row before it."""
        if not self._core.bus.active:
            return
        code = "unknown_lane" if isinstance(error, ConfigError) else status_of(error)[1]
        self._core.bus.emit(
            RequestFinished(
                request_id=self._core.request_id_of(ctx),
                ts=self._core.clock.wall(),
                context=ctx,
                status="rejected",
                duration_ms=0.0,
                error_code=code,
                trace=(f"prepare:{code}",),
                extra={REFUSED_BY: "engine"},
            )
        )

    def failure(
        self, ctx: TaskContext, error: LanewayError, started: float, *, degraded: bool
    ) -> None:
        status, code = status_of(error)
        # a lane its config cannot serve failed: the server answers it 503, not degraded
        if degraded and status == "failed" and code != ErrorCode.NOT_CONFIGURED.value:
            status = "degraded"
        self.finish(ctx, status, started, error_code=code, error=error)

    def finish(
        self,
        ctx: TaskContext,
        status: RequestStatus,
        started: float,
        *,
        error_code: str | None = None,
        error: LanewayError | None = None,
    ) -> None:
        if not self._core.bus.active:
            return
        trace = error.trace if error else ()
        extra = None
        if isinstance(error, StateError):  # its own code, and where it happened
            trace = (*trace, "state_store:unavailable")
            extra = {"state_error": error.message}
        self._core.bus.emit(
            RequestFinished(
                request_id=self._core.request_id_of(ctx),
                ts=self._core.clock.wall(),
                context=ctx,
                status=status,
                duration_ms=(self._core.clock.monotonic() - started) * 1000,
                decision=error.decision if error else None,
                error_code=error_code,
                attempts=error.attempts if error else (),
                trace=trace,
                extra=extra,
            )
        )


def status_of(error: LanewayError) -> tuple[RequestStatus, str]:
    if isinstance(error, BudgetExceededError):
        return "budget_exceeded", ErrorCode.BUDGET_EXCEEDED.value
    if isinstance(error, OutputRejectedError):
        if error.code is ErrorCode.PII_LEAK:
            return "pii_leak", error.code.value
        return ("parse_error" if error.stage == "parse" else "validation_error"), error.code.value
    if isinstance(error, ProviderError):
        return "failed", error.code.value
    if isinstance(error, RoutingExhaustedError):
        code = error.attempts[-1].code if error.attempts else ErrorCode.UNKNOWN.value
        return "failed", "deadline_exhausted" if error.deadline_exhausted else code
    if isinstance(error, RequestError):
        return "failed", ErrorCode.BAD_REQUEST.value
    if isinstance(error, PolicyDeniedError):
        return "failed", ErrorCode.POLICY_DENIED.value
    if isinstance(error, StateError):
        return "failed", "state_unavailable"
    return "failed", ErrorCode.UNKNOWN.value


def degraded_outcome(error: LanewayError, request_id: str, *, message: str) -> Outcome:
    code = status_of(error)[1]
    return Outcome(
        status="degraded",
        content=message,
        errors=tuple(getattr(error, "errors", ()))
        or ((error,) if isinstance(error, ProviderError) else ()),
        error=str(error),
        code=code,
        decision=error.decision,
        trace=error.trace,
        attempts=error.attempts,
        request_id=error.request_id or request_id,
    )


def payload_json(request: CompletionRequest) -> bytes:
    """What `payload_sha256` hashes: the messages as a JSON array of `[role, text]` pairs."""
    return orjson.dumps([[m.role, m.text] for m in request.messages])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
