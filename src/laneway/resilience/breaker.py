"""Circuit breakers per provider+model, kept in the state store so replicas share them.

The transitions themselves are pure and live with the store
(`state.breaker_record`, mirrored in `state/lua/breaker.lua`) so each one is
atomic in Redis. This module is the policy on top: which failures count
against a provider's health, and what the engine learns from each call.

Only `errors.HEALTH_FAILURES` count: the provider's faults (timeout, network,
unavailable, rate_limit, and invalid_response: an answer laneway cannot parse
or a stream cut or timed out after it opened). Any other outcome — a bad
request, a content filter, an auth error (the credential's fault: it is
quarantined instead), output that fails the caller's schema, validators or
PII scan — means the provider answered, so it counts as a success for the
breaker (as pybreaker treats excluded exceptions): it resets the failure run
and closes a half-open breaker. The engine never reports a caller's rejection
of an answer as a failure.

`now` is wall-clock seconds (`Clock.wall()`) when the store is shared by
replicas, since monotonic clocks differ between machines.
"""

from __future__ import annotations

from dataclasses import dataclass

from laneway.config.schema import BreakerSpec
from laneway.errors import HEALTH_FAILURES, ErrorCode
from laneway.state.base import (
    BreakerOp,
    BreakerOutcome,
    BreakerParams,
    BreakerStateName,
    BreakerStore,
)
from laneway.state.quarantine_record import QuarantineVerdict


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one breaker; the engine emits it as `events.BreakerChanged`."""

    key: str
    old: BreakerStateName
    new: BreakerStateName


@dataclass(frozen=True, slots=True)
class Admission:
    """May this request call the model; is it the half-open probe; the state after admitting."""

    allowed: bool
    probe: bool
    state: BreakerStateName
    transitions: tuple[Transition, ...] = ()


_ADMITTED = Admission(allowed=True, probe=False, state="closed")


def params_from_spec(spec: BreakerSpec) -> BreakerParams:
    """A lost probe frees its slot after `open_s`, the same wait as an open breaker."""
    return BreakerParams(
        failure_threshold=spec.failure_threshold,
        window_s=spec.window_s,
        open_s=spec.open_s,
        probe_timeout_s=spec.open_s,
    )


def counts_against_health(code: ErrorCode) -> bool:
    return code in HEALTH_FAILURES


class Breakers:
    """All breakers of one gateway, keyed "provider/model"."""

    def __init__(self, store: BreakerStore, spec: BreakerSpec | None = None) -> None:
        self._store = store
        self._params = params_from_spec(spec or BreakerSpec())

    @property
    def params(self) -> BreakerParams:
        return self._params

    async def admit(self, key: str, now: float) -> Admission:
        """Ask before calling: refused while open, and while half-open unless this is the probe."""
        return _admission(key, await self._store.apply(key, "admit", now, self._params))

    async def gate(
        self, key: str, credential: str, now: float, cooldown_s: float
    ) -> tuple[QuarantineVerdict, Admission | None]:
        """What a call asks before it is made, in one round trip to the store: the
        quarantine's verdict on the `credential` profile (by its label), then, unless it is
        quarantined, `admit` (None: the breaker was not asked)."""
        verdict, outcome = await self._store.gate(key, credential, now, self._params, cooldown_s)
        return verdict, None if outcome is None else _admission(key, outcome)

    async def record_success(self, key: str, now: float) -> tuple[Transition, ...]:
        return _transitions(key, await self._store.apply(key, "success", now, self._params))

    async def record_failure(self, key: str, code: ErrorCode, now: float) -> tuple[Transition, ...]:
        """Count a health failure; any other code shows the provider answered (a success)."""
        op: BreakerOp = "failure" if counts_against_health(code) else "success"
        return _transitions(key, await self._store.apply(key, op, now, self._params))

    async def release_probe(self, key: str, now: float = 0.0) -> None:
        """The probe ended with no verdict (cancelled, over budget): let the next request probe.

        `now` is not needed by the transition; it is accepted for symmetry.
        """
        await self._store.apply(key, "release", now, self._params)

    async def snapshot(self) -> dict[str, str]:
        """Stored states by key; keys never tripped may be absent (they are closed)."""
        return dict(await self._store.states())


def _admission(key: str, outcome: BreakerOutcome) -> Admission:
    if outcome.old == "closed":  # a closed breaker admits every call and stays closed
        return _ADMITTED
    return Admission(
        allowed=outcome.allowed,
        probe=outcome.probe,
        state=outcome.new,
        transitions=_transitions(key, outcome),
    )


def _transitions(key: str, outcome: BreakerOutcome) -> tuple[Transition, ...]:
    """Empty, or the one change; a tuple so the engine can emit without a None check."""
    if outcome.old == outcome.new:
        return ()
    return (Transition(key, outcome.old, outcome.new),)
