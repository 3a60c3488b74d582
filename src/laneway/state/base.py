"""The state protocols: small sets of atomic primitives that policies build on.

Policies (`resilience/`, `budgets/`, `routing/`) stay pure; whatever must be
shared between concurrent requests — or between replicas — lives behind these
protocols. Each method is one atomic step: the memory backend runs it with no
`await` inside, the Redis backend as one Lua script. Nothing here reads a
clock: callers pass `now`. When a store is shared by replicas, `now` must be
comparable across machines, so pass wall-clock seconds (`Clock.wall()`).

USD amounts cross these protocols as integer nano-dollars so that both
backends add and compare exactly (Redis Lua numbers are doubles; integers up
to 2**53 nano-USD, about nine million dollars, stay exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from laneway.errors import StateError as StateError
from laneway.state.quarantine_record import QuarantineOp, QuarantineRecord, QuarantineVerdict

if TYPE_CHECKING:
    from laneway.state.breaker_record import BreakerRecord

BreakerStateName = Literal["closed", "open", "half_open"]

NANOS_PER_USD = 1_000_000_000


def to_nanos(usd: float) -> int:
    return round(usd * NANOS_PER_USD)


def from_nanos(nanos: int) -> float:
    return nanos / NANOS_PER_USD


# -- circuit breakers ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakerParams:
    """Trip after `failure_threshold` health failures within `window_s`; stay open `open_s`.

    A half-open probe that never reports (its caller crashed) frees its slot
    after `probe_timeout_s`, so a lost probe cannot pin a breaker half-open.
    """

    failure_threshold: int = 3
    window_s: float = 300.0
    open_s: float = 60.0
    probe_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class BreakerOutcome:
    """The state before and after one operation; `allowed`/`probe` only mean something on admit."""

    old: BreakerStateName
    new: BreakerStateName
    allowed: bool = True
    probe: bool = False

    @property
    def changed(self) -> bool:
        return self.old != self.new


BreakerOp = Literal["admit", "success", "failure", "release"]


class BreakerStore(Protocol):
    """Atomic breaker transitions, one record per key ("provider/model")."""

    async def apply(
        self, key: str, op: BreakerOp, now: float, params: BreakerParams
    ) -> BreakerOutcome:
        """Run one transition (see `state.breaker_record` for the semantics) atomically."""
        ...

    async def gate(
        self, key: str, credential: str, now: float, params: BreakerParams, cooldown_s: float
    ) -> tuple[QuarantineVerdict, BreakerOutcome | None]:
        """A call's gate as one atomic step, one round trip to a shared store: the
        `credential` profile's quarantine `check` (`QuarantineStore`), then, unless it is
        quarantined, the breaker's `admit` (None when the breaker was not asked)."""
        ...

    async def states(self) -> dict[str, BreakerStateName]:
        """Every known key's stored state (an open breaker past `open_s` still reads open)."""
        ...

    async def clear(self, key: str) -> None:
        """Forget a key's record: it reads closed again."""
        ...

    async def records(self) -> dict[str, BreakerRecord]:
        """Every tripped breaker's whole record (for `laneway status`, not per request)."""
        ...


# -- budgets --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeLimit:
    """One budget scope (e.g. "job:abc") and its limits; `None` means no limit in that unit."""

    scope: str
    usd_nanos: int | None = None
    tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ScopeUsage:
    spent_nanos: int = 0
    reserved_nanos: int = 0
    spent_tokens: int = 0
    reserved_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reservation was refused: the first scope whose limit it would pass."""

    scope: str
    unit: Literal["usd", "tokens"]
    limit: int
    usage: ScopeUsage


class BudgetStore(Protocol):
    """All-or-nothing reservations across scopes, then commit or refund exactly once."""

    async def reserve(
        self, reservation_id: str, limits: Sequence[ScopeLimit], nanos: int, tokens: int
    ) -> Refusal | None:
        """Reserve in every scope if none would pass its limit; else change nothing."""
        ...

    async def commit(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        reserved: tuple[int, int],
        actual: tuple[int, int],
    ) -> bool:
        """Turn a reservation (nanos, tokens) into spending; False if already settled."""
        ...

    async def refund(
        self, reservation_id: str, scopes: Sequence[str], reserved: tuple[int, int]
    ) -> bool:
        """Release a reservation; False if already settled."""
        ...

    async def usage(self, scope: str) -> ScopeUsage: ...

    async def snapshot(self) -> dict[str, ScopeUsage]:
        """Every scope held, with its usage (for reports)."""
        ...

    async def forget(self, scope: str) -> None:
        """Drop a finished scope (e.g. one task's) so the store does not grow."""
        ...


# -- credential quarantine ---------------------------------------------------------


class QuarantineStore(Protocol):
    """Credential profiles a provider rejected, one record per "provider[profile]".

    `apply` runs one `state.quarantine_record` step atomically and returns its
    verdict: "clear", "probe" (the one call allowed after the cooldown) or
    "quarantined".
    """

    async def apply(
        self, key: str, op: QuarantineOp, now: float, cooldown_s: float
    ) -> QuarantineVerdict: ...

    async def records(self) -> dict[str, QuarantineRecord]:
        """Every quarantined profile by key (for `laneway status`, not the request path)."""
        ...


# -- decision cache -----------------------------------------------------------------


class DecisionCache(Protocol):
    """Short-lived strings by key (llm_enhanced routing decisions). Expiry uses `now`."""

    async def get(self, key: str, now: float) -> str | None: ...

    async def set(self, key: str, value: str, *, ttl_s: float, now: float) -> None: ...


class StateStore(Protocol):
    """Every shared-state primitive of one backend, chosen by URL (`open_state`)."""

    @property
    def url(self) -> str: ...

    @property
    def breakers(self) -> BreakerStore: ...

    @property
    def budgets(self) -> BudgetStore: ...

    @property
    def decisions(self) -> DecisionCache: ...

    @property
    def key_limits(self) -> KeyLimitStore: ...

    @property
    def quarantines(self) -> QuarantineStore: ...

    async def aclose(self) -> None: ...


# -- client-key limits --------------------------------------------------------------


class KeyLimitStore(Protocol):
    """A client key's concurrency leases and spend, shared by every replica.

    A lease expires `lease_s` after it was taken or last renewed, so the slots
    of a replica that died free themselves; a running request renews its lease.
    Spend is kept per period name (`"total"`, `"day:2026-12-07"`, ...), so a
    new period starts at zero without anyone resetting it.
    """

    async def acquire(self, key: str, lease_id: str, limit: int, now: float, lease_s: float) -> int:
        """Take a lease if fewer than `limit` live leases are held: -1 when taken, else
        the number of live leases that made it refuse."""
        ...

    async def renew(self, key: str, lease_id: str, now: float, lease_s: float) -> bool:
        """Push a held lease's expiry to `now + lease_s`; False when it had expired."""
        ...

    async def release(self, key: str, lease_id: str) -> None: ...

    async def add_spend(self, key: str, period: str, nanos: int, ttl_s: float | None) -> int:
        """Add to a key's spend in `period`; the new total. `ttl_s` bounds how long it is kept."""
        ...

    async def spent(self, key: str, period: str) -> int: ...
