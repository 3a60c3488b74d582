"""An audit row for every request the server refuses before the engine sees it.

Kill switch, a missing or unknown key, a forbidden lane, a rate, concurrency
or budget limit, the state store down, a malformed body: each refusal is one
`rejected` row whose `error_code` is the answer's code, queued without waiting
(the answer never waits for the audit log). An unknown key is recorded as the
first 12 hex digits of its SHA-256 digest, never the key. Past
`audit.refusals_per_s` refusals are sampled out (`audit/sampling.py`) and
summed up in a `refusals_sampled_out` row.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from laneway.audit.sampling import RefusalSampler
from laneway.audit.sink import REFUSED_BY
from laneway.clock import Clock
from laneway.events import RequestFinished
from laneway.server.asgi import Request
from laneway.server.auth import Principal, bearer_key
from laneway.server.errors import ApiError
from laneway.types import TaskContext

if TYPE_CHECKING:
    from laneway.audit.sink import AuditSink
    from laneway.server.state import ServerState

SUMMARY_CODE = "refusals_sampled_out"


class Admission:
    """What an endpoint's guards learnt before one refused: for the refusal's audit row."""

    __slots__ = ("lane", "principal", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.principal: Principal | None = None
        self.lane = ""

    def audit(self, state: ServerState, req: Request, error: ApiError) -> None:
        """Queue the refusal's row (the server's `RefusalAudit`; never waits)."""
        state.refusals.record(
            req,
            error,
            started=self.started,
            principal=self.principal,
            lane=self.lane,
            trace=refusal_trace(error),
        )


def refusal_trace(error: ApiError) -> tuple[str, ...]:
    """`server:<code>`; for `state_unavailable` also the store's error class."""
    if error.code == "state_unavailable":
        cause = error.__cause__
        return (
            f"server:{error.code}",
            f"state_store:{type(cause).__name__ if cause else 'unknown'}",
        )
    return (f"server:{error.code}",)


def unknown_key_label(authorization: bytes | None) -> str | None:
    """`unknown:sha256:<12 hex>` for a presented key the server does not know; None without one."""
    key = bearer_key(authorization)
    if key is None:
        return None
    return f"unknown:sha256:{hashlib.sha256(key).hexdigest()[:12]}"


class RefusalAudit:
    """Queues one `rejected` row per refusal (sampled past the configured rate)."""

    def __init__(self, sink: AuditSink | None, sampler: RefusalSampler, clock: Clock) -> None:
        self._sink = sink
        self._sampler = sampler
        self._clock = clock

    @property
    def sampled_out(self) -> dict[str, int]:
        return self._sampler.sampled_out

    def record(
        self,
        req: Request,
        error: ApiError,
        *,
        started: float,
        principal: Principal | None,
        lane: str = "",
        trace: tuple[str, ...] = (),
    ) -> None:
        sink = self._sink
        if sink is None:
            return
        code = error.code
        if not self._sampler.admit(code):
            self._summarise(sink)
            return
        client: str | None = None
        if principal is not None:
            client = principal.name
        elif code == "invalid_api_key":  # the Anthropic SDKs send `x-api-key`
            api_key = req.headers.get(b"x-api-key")
            key = b"Bearer " + api_key.strip() if api_key else req.headers.get(b"authorization")
            client = unknown_key_label(key)
        ctx = TaskContext(lane=lane, client_key=client, client_request_id=req.client_request_id)
        sink.record(
            RequestFinished(
                request_id=req.request_id,
                ts=self._clock.wall(),
                context=ctx,
                status="rejected",
                duration_ms=(self._clock.monotonic() - started) * 1000,
                error_code=code,
                trace=trace or (f"server:{code}",),
                extra={REFUSED_BY: "server", "http_status": error.status, "path": req.path},
            )
        )
        self._summarise(sink)

    def _summarise(self, sink: AuditSink, *, force: bool = False) -> None:
        due = self._sampler.summary(force=force)
        if due is None:
            return
        counts, covered_s = due
        extra: dict[str, object] = {REFUSED_BY: "server", "covered_s": round(covered_s, 3)}
        extra |= {f"sampled_out.{reason}": count for reason, count in sorted(counts.items())}
        sink.record(
            RequestFinished(
                request_id=f"refusals-{secrets.token_hex(12)}",
                ts=self._clock.wall(),
                context=TaskContext(lane=""),
                status="rejected",
                duration_ms=covered_s * 1000,
                error_code=SUMMARY_CODE,
                trace=(f"server:{SUMMARY_CODE}({sum(counts.values())})",),
                extra=extra,
            )
        )

    def close(self) -> None:
        """Write the last summary (the server's shutdown)."""
        if self._sink is not None:
            self._summarise(self._sink, force=True)
