"""Rate limits (the `limits` package, memory storage), concurrency slots and key spend."""

from __future__ import annotations

import pytest

from laneway.clock import SystemClock
from laneway.errors import ConfigError
from laneway.server.auth import Principal
from laneway.server.errors import ApiError
from laneway.server.limits import ConcurrencySlots, KeySpend, RateLimits, storage_url


def key(**limits: object) -> Principal:
    return Principal(name="k", lanes=None, **limits)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "url"),
    [
        ("memory://", "async+memory://"),
        ("redis://localhost:6379/0", "async+redis://localhost:6379/0"),
        ("rediss://h:1", "async+rediss://h:1"),
    ],
)
def test_storage_url_follows_state_url(state: str, url: str) -> None:
    assert storage_url(state) == url


def test_an_unknown_state_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        storage_url("postgresql://x")


async def test_rpm_passes_then_429_with_retry_after() -> None:
    limits = RateLimits("memory://", global_rpm=None, clock=SystemClock())
    principal = key(rpm=2)
    await limits.hit(principal)
    await limits.hit(principal)
    with pytest.raises(ApiError) as info:
        await limits.hit(principal)
    assert info.value.status == 429
    assert info.value.code == "rate_limit_exceeded"
    assert 1 <= int(info.value.headers["retry-after"]) <= 60
    assert "2 requests per minute" in info.value.message


async def test_keys_are_counted_apart_but_the_global_limit_is_shared() -> None:
    limits = RateLimits("memory://", global_rpm=3, clock=SystemClock())
    a, b = Principal("a", None, rpm=2), Principal("b", None, rpm=2)
    await limits.hit(a)
    await limits.hit(a)
    await limits.hit(b)
    with pytest.raises(ApiError) as info:
        await limits.hit(b)
    assert "global limit of 3" in info.value.message


async def test_no_limits_configured_means_no_storage_at_all() -> None:
    limits = RateLimits("redis://unreachable.invalid:1", global_rpm=None, clock=SystemClock())
    for _ in range(5):
        await limits.hit(key())


def test_concurrency_slots_refuse_past_the_limit_and_free_on_exit() -> None:
    slots = ConcurrencySlots()
    principal = key(concurrent=1)
    with slots.hold(principal):
        with pytest.raises(ApiError) as info, slots.hold(principal):
            pass
        assert info.value.code == "concurrency_limit_exceeded"
    with slots.hold(principal):
        assert slots.in_flight(principal) == 1
    assert slots.in_flight(principal) == 0


def test_key_spend_blocks_once_the_budget_is_spent() -> None:
    spend = KeySpend()
    principal = key(budget_usd=1.0)
    assert spend.remaining_usd(principal) == 1.0
    spend.record(principal, 0.4)
    assert spend.remaining_usd(principal) == pytest.approx(0.6)
    spend.record(principal, 0.6)
    with pytest.raises(ApiError) as info:
        spend.remaining_usd(principal)
    assert (info.value.status, info.value.code) == (429, "budget_exceeded")
    assert spend.remaining_usd(key()) is None
