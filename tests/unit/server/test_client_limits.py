"""Rate limits (the `limits` package, memory storage) and their fail policy."""

from __future__ import annotations

import pytest

from laneway.clock import SystemClock
from laneway.errors import ConfigError
from laneway.server.auth import Principal
from laneway.server.errors import ApiError
from laneway.server.limits import RateLimits, storage_url


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


async def test_a_down_store_counts_windows_in_memory_when_the_policy_is_open() -> None:
    """Redis refusing connections: with `on_state_error.limits: open` the key's rpm still
    holds, counted in this process; with `closed` the request is refused 503."""
    from laneway.clock import FakeClock
    from laneway.config.schema import StateSpec
    from laneway.state.guarded import StoreHealth

    clock = FakeClock()
    url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    health = StoreHealth(clock, retry_after_s=1.0)
    spec = StateSpec(url=url)
    limits = RateLimits(url, global_rpm=None, clock=clock, spec=spec, health=health)
    principal = key(rpm=2)
    await limits.hit(principal)
    assert health.down  # the first failure holds the store down: the next calls skip it
    await limits.hit(principal)
    with pytest.raises(ApiError) as info:
        await limits.hit(principal)
    assert info.value.code == "rate_limit_exceeded"

    closed = StateSpec(url=url, on_state_error={"limits": "closed"})
    strict = RateLimits(url, global_rpm=None, clock=clock, spec=closed, health=health)
    with pytest.raises(ApiError) as refused:
        await strict.hit(principal)
    assert (refused.value.status, refused.value.code) == (503, "state_unavailable")
    assert "on_state_error" in refused.value.message
