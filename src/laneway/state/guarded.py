"""A shared state store that fails fast and as configured (`state.on_state_error`).

Why: with many replicas every request asks Redis several times (rate window,
key lease, breaker admission, budget reservation). A hung Redis would make
each of those wait for its timeout; a dead one would refuse every request,
even those of keys with no limits. So:

- `StoreHealth` remembers a failure: for `retry_after_s` after it, no caller
  asks the store again (each fails at once, with no I/O), then the next
  caller tries it. A request therefore pays at most one timeout, and recovery
  needs no restart.
- per concern, `open` serves the request from this process's memory (breakers,
  key limits, the decision cache: each replica on its own share, as with one
  replica) and logs it once per minute; `closed` raises `StateError`, which the
  server answers 503 `state_unavailable` (budgets, by default: a spend limit
  must not be passed because Redis was down).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from laneway.clock import Clock
from laneway.state.base import (
    BreakerOp,
    BreakerOutcome,
    BreakerParams,
    BreakerStateName,
    BreakerStore,
    BudgetStore,
    DecisionCache,
    KeyLimitStore,
    QuarantineStore,
    Refusal,
    ScopeLimit,
    ScopeUsage,
    StateError,
    StateStore,
)
from laneway.state.breaker_record import BreakerRecord
from laneway.state.memory import MemoryStateStore
from laneway.state.quarantine_record import QuarantineOp, QuarantineRecord, QuarantineVerdict

log = logging.getLogger("laneway.state")

T = TypeVar("T")
Policy = Literal["open", "closed"]
Concern = Literal["limits", "breakers", "budgets", "decisions"]
LOG_EVERY_S = 60.0


class StoreHealth:
    """Whether the shared store may be asked now; one per process, shared by every user of
    the store (also the server's rate-limit windows, which use their own connection)."""

    def __init__(self, clock: Clock, *, retry_after_s: float = 1.0) -> None:
        self._clock = clock
        self._retry_after_s = retry_after_s
        self._down_until = 0.0
        self._logged_at: dict[str, float] = {}
        self.failures = 0
        self.last_error = ""

    @property
    def down(self) -> bool:
        return self._clock.monotonic() < self._down_until

    def check(self) -> None:
        """Raise at once, without I/O, while the store is held down."""
        if self.down:
            raise StateError(
                f"the state store is skipped after a failure ({self.last_error}); "
                f"it is asked again within {self._retry_after_s:g} s"
            )

    def failed(self, error: Exception) -> None:
        self.failures += 1
        self.last_error = str(error)[:200]
        self._down_until = self._clock.monotonic() + self._retry_after_s

    def recovered(self) -> None:
        self._down_until = 0.0

    def log_fallback(self, concern: str, error: Exception) -> None:
        """One warning per concern per minute, so a flood of requests logs a few lines."""
        now = self._clock.monotonic()
        last = self._logged_at.get(concern)
        if last is not None and now - last < LOG_EVERY_S:
            return
        self._logged_at[concern] = now
        log.warning(
            "state store unavailable: %s served from this process's memory "
            "(state.on_state_error.%s is open): %s",
            concern,
            concern,
            error,
        )


class _Guard:
    """Runs one operation against the shared store, else as the concern's policy says."""

    def __init__(self, health: StoreHealth, concern: Concern, policy: Policy) -> None:
        self._health = health
        self._concern = concern
        self._policy = policy

    async def run(self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        health = self._health
        try:
            health.check()
            result = await shared()
        except StateError as exc:
            if not health.down:
                health.failed(exc)
            if self._policy == "closed":
                raise
            health.log_fallback(self._concern, exc)
            return await local()
        health.recovered()
        return result


class GuardedBreakers:
    def __init__(self, shared: BreakerStore, local: BreakerStore, guard: _Guard) -> None:
        self._shared, self._local, self._guard = shared, local, guard

    async def apply(
        self, key: str, op: BreakerOp, now: float, params: BreakerParams
    ) -> BreakerOutcome:
        return await self._guard.run(
            lambda: self._shared.apply(key, op, now, params),
            lambda: self._local.apply(key, op, now, params),
        )

    async def gate(
        self, key: str, credential: str, now: float, params: BreakerParams, cooldown_s: float
    ) -> tuple[QuarantineVerdict, BreakerOutcome | None]:
        return await self._guard.run(
            lambda: self._shared.gate(key, credential, now, params, cooldown_s),
            lambda: self._local.gate(key, credential, now, params, cooldown_s),
        )

    async def states(self) -> dict[str, BreakerStateName]:
        return await self._guard.run(self._shared.states, self._local.states)

    async def clear(self, key: str) -> None:
        await self._guard.run(lambda: self._shared.clear(key), lambda: self._local.clear(key))

    async def records(self) -> dict[str, BreakerRecord]:
        return await self._guard.run(self._shared.records, self._local.records)


class GuardedQuarantines:
    """Credential quarantines follow the `breakers` policy: both steer calls away from
    what failed, and each replica may keep its own while the store is down."""

    def __init__(self, shared: QuarantineStore, local: QuarantineStore, guard: _Guard) -> None:
        self._shared, self._local, self._guard = shared, local, guard

    async def apply(
        self, key: str, op: QuarantineOp, now: float, cooldown_s: float
    ) -> QuarantineVerdict:
        return await self._guard.run(
            lambda: self._shared.apply(key, op, now, cooldown_s),
            lambda: self._local.apply(key, op, now, cooldown_s),
        )

    async def records(self) -> dict[str, QuarantineRecord]:
        return await self._guard.run(self._shared.records, self._local.records)


class GuardedBudgets:
    def __init__(self, shared: BudgetStore, local: BudgetStore, guard: _Guard) -> None:
        self._shared, self._local, self._guard = shared, local, guard

    async def reserve(
        self, reservation_id: str, limits: Sequence[ScopeLimit], nanos: int, tokens: int
    ) -> Refusal | None:
        return await self._guard.run(
            lambda: self._shared.reserve(reservation_id, limits, nanos, tokens),
            lambda: self._local.reserve(reservation_id, limits, nanos, tokens),
        )

    async def commit(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        reserved: tuple[int, int],
        actual: tuple[int, int],
    ) -> bool:
        return await self._guard.run(
            lambda: self._shared.commit(reservation_id, scopes, reserved, actual),
            lambda: self._local.commit(reservation_id, scopes, reserved, actual),
        )

    async def refund(
        self, reservation_id: str, scopes: Sequence[str], reserved: tuple[int, int]
    ) -> bool:
        return await self._guard.run(
            lambda: self._shared.refund(reservation_id, scopes, reserved),
            lambda: self._local.refund(reservation_id, scopes, reserved),
        )

    async def usage(self, scope: str) -> ScopeUsage:
        return await self._guard.run(
            lambda: self._shared.usage(scope), lambda: self._local.usage(scope)
        )

    async def snapshot(self) -> dict[str, ScopeUsage]:
        return await self._guard.run(self._shared.snapshot, self._local.snapshot)

    async def forget(self, scope: str) -> None:
        await self._guard.run(lambda: self._shared.forget(scope), lambda: self._local.forget(scope))


class GuardedDecisions:
    def __init__(self, shared: DecisionCache, local: DecisionCache, guard: _Guard) -> None:
        self._shared, self._local, self._guard = shared, local, guard

    async def get(self, key: str, now: float) -> str | None:
        return await self._guard.run(
            lambda: self._shared.get(key, now), lambda: self._local.get(key, now)
        )

    async def set(self, key: str, value: str, *, ttl_s: float, now: float) -> None:
        await self._guard.run(
            lambda: self._shared.set(key, value, ttl_s=ttl_s, now=now),
            lambda: self._local.set(key, value, ttl_s=ttl_s, now=now),
        )


class GuardedKeyLimits:
    """Leases follow the `limits` policy, a key's spend the `budgets` one."""

    def __init__(
        self, shared: KeyLimitStore, local: KeyLimitStore, guard: _Guard, spend_guard: _Guard
    ) -> None:
        self._shared, self._local, self._guard = shared, local, guard
        self._spend_guard = spend_guard

    async def acquire(self, key: str, lease_id: str, limit: int, now: float, lease_s: float) -> int:
        return await self._guard.run(
            lambda: self._shared.acquire(key, lease_id, limit, now, lease_s),
            lambda: self._local.acquire(key, lease_id, limit, now, lease_s),
        )

    async def renew(self, key: str, lease_id: str, now: float, lease_s: float) -> bool:
        return await self._guard.run(
            lambda: self._shared.renew(key, lease_id, now, lease_s),
            lambda: self._local.renew(key, lease_id, now, lease_s),
        )

    async def release(self, key: str, lease_id: str) -> None:
        # both: the lease may have been taken from either while the store came and went
        await self._local.release(key, lease_id)
        await self._guard.run(
            lambda: self._shared.release(key, lease_id), lambda: self._local.release(key, lease_id)
        )

    async def add_spend(self, key: str, period: str, nanos: int, ttl_s: float | None) -> int:
        return await self._spend_guard.run(
            lambda: self._shared.add_spend(key, period, nanos, ttl_s),
            lambda: self._local.add_spend(key, period, nanos, ttl_s),
        )

    async def spent(self, key: str, period: str) -> int:
        return await self._spend_guard.run(
            lambda: self._shared.spent(key, period), lambda: self._local.spent(key, period)
        )


class GuardedStateStore:
    """`shared` behind the fail policy, with an in-process store to fall back on."""

    def __init__(
        self,
        shared: StateStore,
        *,
        health: StoreHealth,
        limits: Policy = "open",
        breakers: Policy = "open",
        budgets: Policy = "closed",
    ) -> None:
        self._shared = shared
        self.health = health
        local = MemoryStateStore()
        self._breakers = GuardedBreakers(
            shared.breakers, local.breakers, _Guard(health, "breakers", breakers)
        )
        self._budgets = GuardedBudgets(
            shared.budgets, local.budgets, _Guard(health, "budgets", budgets)
        )
        self._quarantines = GuardedQuarantines(
            shared.quarantines, local.quarantines, _Guard(health, "breakers", breakers)
        )
        self._decisions = GuardedDecisions(
            shared.decisions, local.decisions, _Guard(health, "decisions", "open")
        )
        self._key_limits = GuardedKeyLimits(
            shared.key_limits,
            local.key_limits,
            _Guard(health, "limits", limits),
            _Guard(health, "budgets", budgets),
        )

    @property
    def url(self) -> str:
        return self._shared.url

    @property
    def shared(self) -> StateStore:
        return self._shared

    @property
    def breakers(self) -> GuardedBreakers:
        return self._breakers

    @property
    def budgets(self) -> GuardedBudgets:
        return self._budgets

    @property
    def decisions(self) -> GuardedDecisions:
        return self._decisions

    @property
    def key_limits(self) -> GuardedKeyLimits:
        return self._key_limits

    @property
    def quarantines(self) -> GuardedQuarantines:
        return self._quarantines

    async def aclose(self) -> None:
        await self._shared.aclose()


__all__ = ["GuardedStateStore", "StoreHealth"]
