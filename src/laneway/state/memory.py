"""The in-process state backend (`memory://`), the default for one replica.

Every operation runs to completion without an `await` inside, so on one event
loop it is atomic by construction: no lock is needed and none is taken. Not
shared between processes; use Redis for that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import laneway.state.breaker_record as breaker_record
import laneway.state.quarantine_record as quarantine_record
from laneway.state.base import (
    BreakerOp,
    BreakerOutcome,
    BreakerParams,
    BreakerStateName,
    Refusal,
    ScopeLimit,
    ScopeUsage,
)
from laneway.state.breaker_record import BreakerRecord
from laneway.state.quarantine_record import QuarantineOp, QuarantineRecord, QuarantineVerdict

DEFAULT_CACHE_ENTRIES = 10_000


class MemoryBreakerStore:
    """Breakers, and the credential quarantines that `gate` checks first."""

    def __init__(self, quarantines: MemoryQuarantineStore | None = None) -> None:
        self._records: dict[str, BreakerRecord] = {}
        self._quarantines = quarantines if quarantines is not None else MemoryQuarantineStore()

    async def apply(
        self, key: str, op: BreakerOp, now: float, params: BreakerParams
    ) -> BreakerOutcome:
        return self._step(key, op, now, params)

    async def gate(
        self, key: str, credential: str, now: float, params: BreakerParams, cooldown_s: float
    ) -> tuple[QuarantineVerdict, BreakerOutcome | None]:
        verdict = self._quarantines.step(credential, "check", now, cooldown_s)
        if verdict == "quarantined":
            return verdict, None
        return verdict, self._step(key, "admit", now, params)

    def _step(self, key: str, op: BreakerOp, now: float, params: BreakerParams) -> BreakerOutcome:
        record = self._records.get(key, breaker_record.CLOSED)
        new, outcome = breaker_record.apply(record, op, now, params)
        if new is not record:
            self._records[key] = new
        return outcome

    async def states(self) -> dict[str, BreakerStateName]:
        return {key: record.state for key, record in self._records.items()}

    async def clear(self, key: str) -> None:
        self._records.pop(key, None)

    async def records(self) -> dict[str, BreakerRecord]:
        """Every tripped breaker's whole record, for `laneway status`."""
        return dict(self._records)


@dataclass(slots=True)
class _Usage:
    spent_nanos: int = 0
    reserved_nanos: int = 0
    spent_tokens: int = 0
    reserved_tokens: int = 0

    def freeze(self) -> ScopeUsage:
        return ScopeUsage(
            self.spent_nanos, self.reserved_nanos, self.spent_tokens, self.reserved_tokens
        )


class MemoryBudgetStore:
    def __init__(self) -> None:
        self._scopes: dict[str, _Usage] = {}
        self._pending: set[str] = set()

    async def reserve(
        self, reservation_id: str, limits: Sequence[ScopeLimit], nanos: int, tokens: int
    ) -> Refusal | None:
        for limit in limits:
            usage = self._scopes.get(limit.scope) or _Usage()
            refusal = _check(limit, usage, nanos, tokens)
            if refusal is not None:
                return refusal
        for limit in limits:
            usage = self._scopes.setdefault(limit.scope, _Usage())
            usage.reserved_nanos += nanos
            usage.reserved_tokens += tokens
        self._pending.add(reservation_id)
        return None

    async def commit(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        reserved: tuple[int, int],
        actual: tuple[int, int],
    ) -> bool:
        if reservation_id not in self._pending:
            return False
        self._pending.discard(reservation_id)
        for scope in scopes:
            usage = self._scopes.setdefault(scope, _Usage())
            usage.reserved_nanos -= reserved[0]
            usage.reserved_tokens -= reserved[1]
            usage.spent_nanos += actual[0]
            usage.spent_tokens += actual[1]
        return True

    async def refund(
        self, reservation_id: str, scopes: Sequence[str], reserved: tuple[int, int]
    ) -> bool:
        return await self.commit(reservation_id, scopes, reserved, (0, 0))

    async def usage(self, scope: str) -> ScopeUsage:
        usage = self._scopes.get(scope)
        return usage.freeze() if usage is not None else ScopeUsage()

    async def snapshot(self) -> dict[str, ScopeUsage]:
        return {scope: usage.freeze() for scope, usage in self._scopes.items()}

    async def forget(self, scope: str) -> None:
        self._scopes.pop(scope, None)


def _check(limit: ScopeLimit, usage: _Usage, nanos: int, tokens: int) -> Refusal | None:
    """The same test as `lua/budget_reserve.lua`: committed + reserved + this must fit."""
    if limit.usd_nanos is not None and (
        usage.spent_nanos + usage.reserved_nanos + nanos > limit.usd_nanos
    ):
        return Refusal(limit.scope, "usd", limit.usd_nanos, usage.freeze())
    if limit.tokens is not None and (
        usage.spent_tokens + usage.reserved_tokens + tokens > limit.tokens
    ):
        return Refusal(limit.scope, "tokens", limit.tokens, usage.freeze())
    return None


class MemoryDecisionCache:
    """A bounded TTL map; the oldest entry goes first when it is full."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        self._entries: dict[str, tuple[str, float]] = {}
        self._max_entries = max_entries

    async def get(self, key: str, now: float) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    async def set(self, key: str, value: str, *, ttl_s: float, now: float) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (value, now + ttl_s)


class MemoryKeyLimitStore:
    """Leases and spend per client key, in this process (`KeyLimitStore`)."""

    def __init__(self) -> None:
        self._leases: dict[str, dict[str, float]] = {}  # key -> lease id -> expiry
        self._spent: dict[tuple[str, str], int] = {}
        self._period: dict[str, str] = {}  # key -> its latest period, to drop older ones

    async def acquire(self, key: str, lease_id: str, limit: int, now: float, lease_s: float) -> int:
        leases = self._leases.setdefault(key, {})
        for held, expiry in list(leases.items()):
            if expiry <= now:
                del leases[held]
        if len(leases) >= limit:
            return len(leases)
        leases[lease_id] = now + lease_s
        return -1

    async def renew(self, key: str, lease_id: str, now: float, lease_s: float) -> bool:
        leases = self._leases.get(key, {})
        expiry = leases.get(lease_id)
        if expiry is None or expiry <= now:
            return False
        leases[lease_id] = now + lease_s
        return True

    async def release(self, key: str, lease_id: str) -> None:
        leases = self._leases.get(key)
        if leases is not None:
            leases.pop(lease_id, None)
            if not leases:
                del self._leases[key]

    async def add_spend(self, key: str, period: str, nanos: int, ttl_s: float | None) -> int:
        previous = self._period.get(key)
        if previous is not None and previous != period:
            self._spent.pop((key, previous), None)  # a day or month that has ended
        self._period[key] = period
        total = self._spent[(key, period)] = self._spent.get((key, period), 0) + nanos
        return total

    async def spent(self, key: str, period: str) -> int:
        return self._spent.get((key, period), 0)


class MemoryQuarantineStore:
    def __init__(self) -> None:
        self._records: dict[str, QuarantineRecord] = {}

    async def apply(
        self, key: str, op: QuarantineOp, now: float, cooldown_s: float
    ) -> QuarantineVerdict:
        return self.step(key, op, now, cooldown_s)

    def step(self, key: str, op: QuarantineOp, now: float, cooldown_s: float) -> QuarantineVerdict:
        """`apply`, for a caller already inside one atomic step (`MemoryBreakerStore.gate`)."""
        record = self._records.get(key)
        if record is None and op == "check":
            return "clear"  # the common case: nothing held, nothing to do
        new, verdict = quarantine_record.apply(record, op, now, cooldown_s)
        if new is None:
            self._records.pop(key, None)
        else:
            self._records[key] = new
        return verdict

    async def records(self) -> dict[str, QuarantineRecord]:
        """Every quarantined credential profile, for `laneway status`."""
        return dict(self._records)


class MemoryStateStore:
    """All in-process stores together; `aclose` only drops what they hold."""

    def __init__(self, url: str = "memory://") -> None:
        self._url = url
        self._quarantines = MemoryQuarantineStore()
        self._breakers = MemoryBreakerStore(self._quarantines)
        self._budgets = MemoryBudgetStore()
        self._decisions = MemoryDecisionCache()
        self._key_limits = MemoryKeyLimitStore()

    @property
    def url(self) -> str:
        return self._url

    @property
    def breakers(self) -> MemoryBreakerStore:
        return self._breakers

    @property
    def budgets(self) -> MemoryBudgetStore:
        return self._budgets

    @property
    def decisions(self) -> MemoryDecisionCache:
        return self._decisions

    @property
    def key_limits(self) -> MemoryKeyLimitStore:
        return self._key_limits

    @property
    def quarantines(self) -> MemoryQuarantineStore:
        return self._quarantines

    async def aclose(self) -> None:
        """Nothing to release: the state goes when the object does."""
