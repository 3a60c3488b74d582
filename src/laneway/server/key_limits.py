"""A client key's `concurrent` and `budget_usd`, held in the state store for every replica.

Concurrency: a request takes a lease (`KeyLimitStore.acquire`) that expires
`LEASE_S` after it was taken, so the slots of a replica that crashed free
themselves; a loop timer renews every lease the process holds each
`LEASE_S / 3` (a timer, not a sleeping task, so a test's fake clock does not
spin), so a long request keeps its slot. A key without `concurrent`
costs nothing: no lease, no I/O.

Spend: what a key spent in its period (`per: day | month | total`, days and
months in UTC) is one counter per key and period, added to after each answer.
A request is admitted while the counter is under `budget_usd`, and the engine
gets the rest as the request's own budget (`TaskContext.budget_remaining_usd`),
so a key passes its budget by at most what its requests in flight spend
together. On `memory://` the counters are rebuilt from the audit log at start
(`rebuild`), so a restart does not hand a key a new budget; on Redis they live
in Redis.

A failing store is handled by `state.guarded` (leases follow
`on_state_error.limits`, spend `on_state_error.budgets`); a refusal from it
arrives here as `StateError` and leaves as a 503 `state_unavailable`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.engine.tasks import TaskSupervisor
from laneway.server.auth import Principal
from laneway.server.errors import ApiError, rate_limited, state_unavailable
from laneway.state import KeyLimitStore, StateError
from laneway.state.base import from_nanos, to_nanos

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger("laneway.server")

#: a crashed replica's slots are free again this long after its last renewal
LEASE_S = 30.0
_DAY_TTL_S = 2 * 86_400.0
_MONTH_TTL_S = 62 * 86_400.0


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    lease_id: str


class KeySlots:
    """At most `principal.concurrent` requests in flight per key, across replicas."""

    def __init__(self, store: KeyLimitStore, *, clock: Clock, supervisor: TaskSupervisor) -> None:
        self._store = store
        self._clock = clock
        self._supervisor = supervisor
        self._held: dict[str, str] = {}  # lease id -> key, renewed together
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self, principal: Principal) -> Lease | None:
        """A lease for one request (None for a key without a limit), or a 429."""
        limit = principal.concurrent
        if limit is None:
            return None
        lease = Lease(principal.name, secrets.token_hex(8))
        try:
            held = await self._store.acquire(
                lease.key, lease.lease_id, limit, self._clock.wall(), LEASE_S
            )
        except StateError as exc:
            raise state_unavailable("this key's concurrency limit") from exc
        if held >= 0:
            raise rate_limited(
                f"this key ({principal.name}) already has {held} requests in flight, "
                f"its limit (server.keys[].concurrent is {limit}); wait for one to finish",
                code="concurrency_limit_exceeded",
                retry_after_s=1.0,
            )
        self._held[lease.lease_id] = lease.key
        if self._timer is None:
            self._arm()
        return lease

    async def release(self, lease: Lease) -> None:
        self._held.pop(lease.lease_id, None)
        if not self._held and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await self._store.release(lease.key, lease.lease_id)
        except StateError as exc:  # the lease expires by itself
            log.warning("could not release a concurrency slot of key %s: %s", lease.key, exc)

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(LEASE_S / 3, self._due)

    def _due(self) -> None:
        self._timer = None
        if self._held:
            self._supervisor.start(self._renew_all(), name="key-leases")
            self._arm()

    async def _renew_all(self) -> None:
        for lease_id, key in list(self._held.items()):
            try:
                await self._store.renew(key, lease_id, self._clock.wall(), LEASE_S)
            except StateError as exc:
                log.warning("could not renew a concurrency slot of key %s: %s", key, exc)


def period_of(per: str, wall_s: float) -> tuple[str, float | None]:
    """The period's name (`day:2026-12-07`, `month:2026-12`, `total`) and how long to keep it."""
    if per == "total":
        return "total", None
    day = datetime.fromtimestamp(wall_s, UTC)
    if per == "day":
        return f"day:{day:%Y-%m-%d}", _DAY_TTL_S
    return f"month:{day:%Y-%m}", _MONTH_TTL_S


def period_start(per: str, wall_s: float) -> float | None:
    """When the period holding `wall_s` began (None: the key's whole life)."""
    if per == "total":
        return None
    day = datetime.fromtimestamp(wall_s, UTC)
    begin = day.replace(hour=0, minute=0, second=0, microsecond=0)
    if per == "month":
        begin = begin.replace(day=1)
    return begin.timestamp()


class KeySpend:
    """USD spent per key in its budget period, for keys with a `budget_usd`."""

    def __init__(self, store: KeyLimitStore, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def remaining_usd(self, principal: Principal) -> float | None:
        """What the key may still spend, or None when it has no budget; a 429 when spent."""
        budget = principal.budget_usd
        if budget is None:
            return None
        period, _ = period_of(principal.per, self._clock.wall())
        try:
            spent = from_nanos(await self._store.spent(principal.name, period))
        except StateError as exc:
            raise state_unavailable("this key's budget") from exc
        remaining = budget - spent
        if remaining <= 0:
            where = "" if principal.per == "total" else f" per {principal.per}"
            raise ApiError(
                429,
                f"this key's ({principal.name}) budget of {budget:g} USD{where} is spent; "
                "raise server.keys[].budget_usd or wait for the next period",
                type="insufficient_quota",
                code="budget_exceeded",
                headers={"x-should-retry": "false"},
            )
        return remaining

    async def record(self, principal: Principal, cost_usd: float | None) -> None:
        """Add one answer's cost; a store failure is logged (the answer is out already)."""
        if principal.budget_usd is None or not cost_usd:
            return
        period, ttl_s = period_of(principal.per, self._clock.wall())
        try:
            await self._store.add_spend(principal.name, period, to_nanos(cost_usd), ttl_s)
        except StateError as exc:
            log.error("the spend of key %s was not recorded: %s", principal.name, exc)

    async def report(self, principals: tuple[Principal, ...]) -> dict[str, dict[str, object]]:
        """Each budgeted key's budget, period and spend in it (`GET /admin/budgets`)."""
        keys: dict[str, dict[str, object]] = {}
        now = self._clock.wall()
        for principal in principals:
            if principal.budget_usd is None:
                continue
            period, _ = period_of(principal.per, now)
            used = from_nanos(await self._store.spent(principal.name, period))
            keys[principal.name] = {
                "budget_usd": principal.budget_usd,
                "per": principal.per,
                "period": period,
                "spent_usd": used,
                "remaining_usd": max(0.0, principal.budget_usd - used),
            }
        return keys

    async def rebuild(self, principals: tuple[Principal, ...], spent: Mapping[str, float]) -> None:
        """Seed the counters from the audit log's sums (`memory://` only: Redis keeps them)."""
        now = self._clock.wall()
        for principal in principals:
            usd = spent.get(principal.name)
            if principal.budget_usd is None or not usd:
                continue
            period, ttl_s = period_of(principal.per, now)
            await self._store.add_spend(principal.name, period, to_nanos(usd), ttl_s)
