"""The circuit breaker's transitions as pure functions over one stored record.

This is the reference semantics. The memory backend calls these functions;
`lua/breaker.lua` mirrors them line for line so Redis runs each transition
atomically; the conformance suite holds both to the same behaviour.

    closed --(failure_threshold health failures within window_s)--> open
    open --(admit after open_s)--> half_open, and that admit is the one probe
    half_open --(probe success)--> closed
    half_open --(probe failure)--> open (for open_s again)

While half-open, exactly one probe is in flight; every other admit is refused.
A probe that never reports frees its slot after `probe_timeout_s`. Successes
reset the failure count; a success that lands while open (from a request
admitted before the trip) changes nothing. Only the caller decides what is a
health failure (see `resilience.breaker`): every `failure` here counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from laneway.state.base import BreakerOp, BreakerOutcome, BreakerParams, BreakerStateName


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    state: BreakerStateName = "closed"
    opened_at: float = 0.0
    probe_at: float | None = None
    failures: tuple[float, ...] = ()


CLOSED = BreakerRecord()
#: the outcome of nearly every call, shared so the hot path allocates nothing
STILL_CLOSED = BreakerOutcome("closed", "closed", True, False)


def apply(
    record: BreakerRecord, op: BreakerOp, now: float, params: BreakerParams
) -> tuple[BreakerRecord, BreakerOutcome]:
    """One transition: the new record and what the caller learns."""
    if record is CLOSED and op in ("admit", "success", "release"):
        return record, STILL_CLOSED
    if op == "admit":
        new, allowed, probe = _admit(record, now, params)
        return new, BreakerOutcome(record.state, new.state, allowed, probe)
    if op == "success":
        new = _success(record)
    elif op == "failure":
        new = _failure(record, now, params)
    else:
        new = replace(record, probe_at=None) if record.state == "half_open" else record
    return new, BreakerOutcome(record.state, new.state)


def _admit(
    record: BreakerRecord, now: float, params: BreakerParams
) -> tuple[BreakerRecord, bool, bool]:
    if record.state == "closed":
        return record, True, False
    if record.state == "open":
        if now < record.opened_at + params.open_s:
            return record, False, False
        return replace(record, state="half_open", probe_at=now), True, True
    probe_free = record.probe_at is None or now - record.probe_at >= params.probe_timeout_s
    if probe_free:
        return replace(record, probe_at=now), True, True
    return record, False, False


def _success(record: BreakerRecord) -> BreakerRecord:
    if record.state == "open":
        return record
    return CLOSED


def _failure(record: BreakerRecord, now: float, params: BreakerParams) -> BreakerRecord:
    if record.state == "open":
        return record
    if record.state == "half_open":
        return BreakerRecord(state="open", opened_at=now)
    recent = (*(t for t in record.failures if t > now - params.window_s), now)
    if len(recent) >= params.failure_threshold:
        return BreakerRecord(state="open", opened_at=now)
    return replace(record, failures=recent[-params.failure_threshold :])
