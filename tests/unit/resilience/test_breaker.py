"""The breaker policy over the memory store, driven by a FakeClock: which codes count."""

from __future__ import annotations

import pytest

from laneway.clock import FakeClock
from laneway.config.schema import BreakerSpec
from laneway.errors import HEALTH_FAILURES, ErrorCode
from laneway.resilience.breaker import Breakers, Transition, counts_against_health, params_from_spec
from laneway.state.memory import MemoryBreakerStore


def test_params_come_from_the_spec_and_a_lost_probe_waits_open_s() -> None:
    params = params_from_spec(BreakerSpec(failure_threshold=5, window_s=30.0, open_s=12.0))
    assert (params.failure_threshold, params.window_s, params.open_s) == (5, 30.0, 12.0)
    assert params.probe_timeout_s == 12.0


@pytest.mark.parametrize("code", list(ErrorCode))
def test_only_health_codes_count(code: ErrorCode) -> None:
    expected = code in {
        ErrorCode.TIMEOUT,
        ErrorCode.NETWORK,
        ErrorCode.UNAVAILABLE,
        ErrorCode.RATE_LIMIT,
        ErrorCode.INVALID_RESPONSE,  # an unparseable answer, a stream cut short
    }
    assert counts_against_health(code) is expected
    assert (code in HEALTH_FAILURES) is expected


async def test_full_cycle_on_a_fake_clock_without_sleeping() -> None:
    clock = FakeClock()
    breakers = Breakers(MemoryBreakerStore(), BreakerSpec(failure_threshold=3, open_s=60.0))
    key = "zai/glm-4.7"
    transitions = []
    for _ in range(3):
        transitions.append(await breakers.record_failure(key, ErrorCode.TIMEOUT, clock.wall()))
        clock.advance(1.0)
    assert transitions == [(), (), (Transition(key, "closed", "open"),)]
    assert not (await breakers.admit(key, clock.wall())).allowed
    clock.advance(60.0)
    probe = await breakers.admit(key, clock.wall())
    assert probe.probe
    assert probe.transitions == (Transition(key, "open", "half_open"),)
    assert await breakers.snapshot() == {key: "half_open"}
    closed = await breakers.record_success(key, clock.wall())
    assert closed == (Transition(key, "half_open", "closed"),)
    assert clock.sleeps == []
