"""The fail policy of a shared state store (`state/guarded.py`), over a scripted store.

The scripted store implements the `StateStore` protocol on a memory store and
raises `StateError` while `down` is set: what the Redis backend raises for a
refused connection or a timeout.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from laneway.clock import FakeClock
from laneway.state import StateError
from laneway.state.base import BreakerParams
from laneway.state.guarded import GuardedStateStore, StoreHealth
from laneway.state.memory import MemoryStateStore


class Scripted:
    """Every store's every call goes to memory, or raises while `down`; counts the calls."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self._memory = MemoryStateStore("redis://scripted")

    def __getattr__(self, name: str) -> Any:
        inner = getattr(self._memory, name)
        if name in ("breakers", "budgets", "decisions", "key_limits", "quarantines"):
            return _Calls(inner, self)
        return inner


class _Calls:
    def __init__(self, inner: object, owner: Scripted) -> None:
        self._inner, self._owner = inner, owner

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._owner.calls += 1
            if self._owner.down:
                raise StateError("the Redis state store failed while testing: TimeoutError")
            return await method(*args, **kwargs)

        return call


def guarded(**policy: Any) -> tuple[GuardedStateStore, Scripted, FakeClock]:
    clock = FakeClock()
    shared = Scripted()
    store = GuardedStateStore(
        shared,
        health=StoreHealth(clock, retry_after_s=1.0),
        **policy,
    )
    return store, shared, clock


async def test_a_failure_skips_the_store_until_retry_after_then_it_is_asked_again() -> None:
    store, shared, clock = guarded()
    shared.down = True
    outcome = await store.breakers.apply("p/m", "admit", clock.wall(), BreakerParams())
    assert outcome.allowed  # open: served from this process's breakers
    assert shared.calls == 1
    for _ in range(5):  # held down: no call reaches the store, so none waits for it
        await store.key_limits.acquire("k", "l", 4, clock.wall(), 30.0)
    assert shared.calls == 1
    shared.down = False
    clock.advance(1.0)
    assert await store.key_limits.acquire("k", "l2", 4, clock.wall(), 30.0) == -1
    assert shared.calls == 2  # recovered without a restart
    assert not store.health.down


async def test_budgets_fail_closed_by_default_and_open_when_configured() -> None:
    store, shared, _ = guarded()
    shared.down = True
    with pytest.raises(StateError):
        await store.budgets.usage("job:a")
    with pytest.raises(StateError):
        await store.key_limits.spent("k", "total")  # a key's spend is a budget
    opened, shared_open, _ = guarded(budgets="open")
    shared_open.down = True
    assert (await opened.budgets.usage("job:a")).spent_nanos == 0


async def test_closed_limits_refuse_and_open_limits_count_in_memory() -> None:
    closed, shared, clock = guarded(limits="closed")
    shared.down = True
    with pytest.raises(StateError):
        await closed.key_limits.acquire("k", "l", 1, clock.wall(), 30.0)
    opened, shared_open, clock = guarded()
    shared_open.down = True
    assert await opened.key_limits.acquire("k", "a", 1, clock.wall(), 30.0) == -1
    assert await opened.key_limits.acquire("k", "b", 1, clock.wall(), 30.0) == 1


async def test_serving_from_memory_is_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, shared, clock = guarded()
    shared.down = True
    with caplog.at_level(logging.WARNING, logger="laneway.state"):
        for _ in range(50):
            await store.breakers.apply("p/m", "admit", clock.wall(), BreakerParams())
        clock.advance(61.0)
        await store.breakers.apply("p/m", "admit", clock.wall(), BreakerParams())
    lines = [r for r in caplog.records if "breakers served from this process" in r.message]
    assert len(lines) == 2


async def test_quarantines_follow_the_breakers_policy() -> None:
    store, shared, clock = guarded()
    shared.down = True
    assert await store.quarantines.apply("p[a]", "bar", clock.wall(), 60.0) == "quarantined"
    assert await store.quarantines.apply("p[a]", "check", clock.wall(), 60.0) == "quarantined"
    closed, shared_closed, _ = guarded(breakers="closed")
    shared_closed.down = True
    with pytest.raises(StateError):
        await closed.quarantines.apply("p[a]", "check", clock.wall(), 60.0)


async def test_a_calls_gate_follows_the_breakers_policy_over_this_process_quarantines() -> None:
    store, shared, clock = guarded()
    shared.down = True
    await store.quarantines.apply("p[a]", "bar", clock.wall(), 60.0)  # kept in memory
    gate = await store.breakers.gate("p/m", "p[a]", clock.wall(), BreakerParams(), 60.0)
    assert gate == ("quarantined", None)
    verdict, outcome = await store.breakers.gate("p/m", "p[b]", clock.wall(), BreakerParams(), 60)
    assert verdict == "clear"
    assert outcome is not None
    assert outcome.allowed
    closed, shared_closed, _ = guarded(breakers="closed")
    shared_closed.down = True
    with pytest.raises(StateError):
        await closed.breakers.gate("p/m", "p[a]", clock.wall(), BreakerParams(), 60.0)
