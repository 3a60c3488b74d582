"""A key's concurrency leases and budget, through the state store's key-limit primitives."""

from __future__ import annotations

import pytest

from laneway.clock import FakeClock
from laneway.engine.tasks import TaskSupervisor
from laneway.server.auth import Principal
from laneway.server.errors import ApiError
from laneway.server.key_limits import LEASE_S, KeySlots, KeySpend, period_of, period_start
from laneway.state.memory import MemoryKeyLimitStore


def key(**limits: object) -> Principal:
    return Principal(name="k", lanes=None, **limits)  # type: ignore[arg-type]


async def test_slots_refuse_past_the_limit_and_free_on_release() -> None:
    store, clock = MemoryKeyLimitStore(), FakeClock()
    slots = KeySlots(store, clock=clock, supervisor=TaskSupervisor())
    principal = key(concurrent=1)
    lease = await slots.acquire(principal)
    assert lease is not None
    with pytest.raises(ApiError) as info:
        await slots.acquire(principal)
    assert info.value.code == "concurrency_limit_exceeded"
    assert "1 requests in flight" in info.value.message
    await slots.release(lease)
    again = await slots.acquire(principal)
    assert again is not None
    await slots.release(again)
    assert await slots.acquire(key()) is None  # no limit: no lease at all


async def test_a_lease_a_crashed_replica_left_expires_after_the_lease_time() -> None:
    """Another process took the only slot and died: the slot frees itself."""
    store, clock = MemoryKeyLimitStore(), FakeClock()
    assert await store.acquire("k", "dead-replica", 1, clock.wall(), LEASE_S) == -1
    slots = KeySlots(store, clock=clock, supervisor=TaskSupervisor())
    with pytest.raises(ApiError):
        await slots.acquire(key(concurrent=1))
    clock.advance(LEASE_S + 0.001)
    lease = await slots.acquire(key(concurrent=1))
    assert lease is not None
    await slots.release(lease)


async def test_a_renewed_lease_outlives_its_first_term() -> None:
    store, clock = MemoryKeyLimitStore(), FakeClock()
    assert await store.acquire("k", "a", 1, clock.wall(), LEASE_S) == -1
    clock.advance(LEASE_S - 1)
    assert await store.renew("k", "a", clock.wall(), LEASE_S)
    clock.advance(LEASE_S - 1)
    assert await store.acquire("k", "b", 1, clock.wall(), LEASE_S) == 1
    clock.advance(2)
    assert not await store.renew("k", "a", clock.wall(), LEASE_S)  # expired meanwhile


async def test_key_spend_blocks_once_the_budget_of_its_period_is_spent() -> None:
    clock = FakeClock(wall_start=1_765_065_600.0)  # 2025-12-07 00:00 UTC
    spend = KeySpend(MemoryKeyLimitStore(), clock=clock)
    principal = key(budget_usd=1.0, per="day")
    assert await spend.remaining_usd(principal) == 1.0
    await spend.record(principal, 0.4)
    assert await spend.remaining_usd(principal) == pytest.approx(0.6)
    await spend.record(principal, 0.6)
    with pytest.raises(ApiError) as info:
        await spend.remaining_usd(principal)
    assert (info.value.status, info.value.code) == (429, "budget_exceeded")
    assert "per day" in info.value.message
    clock.advance(86_400)  # the next UTC day: a new budget
    assert await spend.remaining_usd(principal) == 1.0
    assert await spend.remaining_usd(key()) is None


async def test_spend_rebuilt_from_the_audit_log_counts_against_the_budget() -> None:
    clock = FakeClock()
    spend = KeySpend(MemoryKeyLimitStore(), clock=clock)
    principal = key(budget_usd=1.0)
    await spend.rebuild((principal, key()), {"k": 0.75, "other": 5.0})
    assert await spend.remaining_usd(principal) == pytest.approx(0.25)
    report = await spend.report((principal,))
    assert report["k"]["spent_usd"] == pytest.approx(0.75)


def test_periods_are_utc_days_and_months() -> None:
    wall = 1_765_123_200.0  # 2025-12-07 16:00 UTC
    assert period_of("day", wall)[0] == "day:2025-12-07"
    assert period_of("month", wall)[0] == "month:2025-12"
    assert period_of("total", wall) == ("total", None)
    assert period_start("day", wall) == 1_765_065_600.0
    assert period_start("month", wall) == 1_764_547_200.0
    assert period_start("total", wall) is None
