"""Circuit breakers seen through the Gateway: open, skip, half-open, one probe, close.

Breakers read `clock.wall()` (they may be shared through Redis); `FakeClock.advance`
moves both clocks, so no test sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engine_scenario import Events, ask, config, fake, gateway

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.events import BreakerChanged, CandidateSkipped
from laneway.types import ModelRef, TaskContext

A, B = ModelRef("f", "a"), ModelRef("f", "b")
CTX = TaskContext(lane="work")


def breaker_config(**lane: Any) -> dict[str, Any]:
    return config(
        {"work": {"primary": "f/a", "fallback": ["f/b"], **lane}},
        breaker={"failure_threshold": 3, "window_s": 300, "open_s": 60},
        retry={"unavailable": {"retries": 0}},
    )


async def trip(gw: Gateway) -> None:
    for _ in range(3):
        fake(gw).enqueue("a", error_code="unavailable", status=503)
        done = await gw.complete(ask(), CTX)
        assert done.trace == ("f/a:unavailable", "f/b:success")


async def test_opens_after_three_health_failures_then_skips_the_model() -> None:
    gw = gateway(breaker_config())
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", error_code="unavailable")
    fake(gw).enqueue("a", error_code="unavailable")
    await gw.complete(ask(), CTX)
    await gw.complete(ask(), CTX)
    assert (await gw.breaker_states()).get("f/a", "closed") == "closed"

    fake(gw).enqueue("a", error_code="unavailable")
    await gw.complete(ask(), CTX)
    assert (await gw.breaker_states())["f/a"] == "open"
    assert [(e.model, e.old, e.new) for e in events.of(BreakerChanged)] == [(A, "closed", "open")]

    calls_before = len(fake(gw).calls)
    done = await gw.complete(ask(), CTX)
    assert done.trace == ("f/a:circuit_open", "f/b:success")
    assert done.attempts[0].skipped
    assert done.attempts[0].code == "circuit_open"
    assert [m for m, _ in fake(gw).calls[calls_before:]] == ["b"]
    assert events.of(CandidateSkipped)[-1].reason == "circuit_open"


async def test_caller_faults_never_trip_the_breaker() -> None:
    gw = gateway(breaker_config())
    for code in ["bad_request", "content_filter", "content_filter", "content_filter"]:
        fake(gw).enqueue("a", error_code=code)
        await gw.run(ask(), CTX)
    assert (await gw.breaker_states()).get("f/a", "closed") == "closed"


async def test_half_opens_after_open_s_with_one_probe_under_50_concurrent_requests() -> None:
    clock = FakeClock()
    gw = gateway(breaker_config(), clock=clock)
    events = Events()
    gw.subscribe(events)
    await trip(gw)
    clock.advance(59)
    assert (await gw.complete(ask(), CTX)).trace[0] == "f/a:circuit_open"
    clock.advance(1)

    calls_before = len(fake(gw).calls)
    fake(gw).enqueue("a", text="probe ok", delay_s=0.5)  # in flight while the others arrive
    results = await asyncio.gather(*(gw.complete(ask(), CTX) for _ in range(50)))

    a_calls = [m for m, _ in fake(gw).calls[calls_before:] if m == "a"]
    assert a_calls == ["a"]
    served = sorted(r.model for r in results)
    assert served == ["a"] + ["b"] * 49
    skipped = [r for r in results if r.model == "b"]
    assert all(r.trace == ("f/a:circuit_open", "f/b:success") for r in skipped)
    assert (await gw.breaker_states())["f/a"] == "closed"
    assert [(e.old, e.new) for e in events.of(BreakerChanged)] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    # closed again: the next request goes to `a` first
    assert (await gw.complete(ask(), CTX)).trace == ("f/a:success",)


async def test_a_failed_probe_reopens_for_another_open_s() -> None:
    clock = FakeClock()
    gw = gateway(breaker_config(), clock=clock)
    await trip(gw)
    clock.advance(60)
    fake(gw).enqueue("a", error_code="timeout", delay_s=0.1)

    done = await gw.complete(ask(), CTX)

    assert done.trace == ("f/a:timeout", "f/b:success")  # the probe gets no retry
    assert (await gw.breaker_states())["f/a"] == "open"
    clock.advance(30)
    assert (await gw.complete(ask(), CTX)).trace[0] == "f/a:circuit_open"
