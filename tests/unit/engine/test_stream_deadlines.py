"""A stream's deadlines: its first delta within the attempt's budget, the rest within the lane's.

The provider stalls with `asyncio.sleep`; the loop runs on virtual time
(tests/virtual_time.py), so a 10 s stall takes no real time, and the gateway's
clock is the loop's, so its backoffs and deadlines and the loop's timers are one
clock that says exactly when each deadline fired.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from engine_scenario import ask, config, fake, gateway

from laneway.types import (
    CompletionRequest,
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    StreamDone,
    StreamEvent,
    TaskContext,
    TextDelta,
)
from virtual_time import LoopClock

pytestmark = pytest.mark.virtual_time

WORK = TaskContext(lane="work")


def stalling(stall_before: set[str]) -> Any:
    """A stream that stalls before its first delta for the models in `stall_before`, and
    after its first delta for the others."""

    async def stream(
        request: CompletionRequest, model: str, *, timeout_s: float, credential: Any = None
    ) -> AsyncIterator[Delta]:
        if model in stall_before:
            await asyncio.sleep(10)
        yield TextDelta("Hello")
        if model != "done":
            await asyncio.sleep(10)
        yield FinishDelta()

    return stream


async def events_of(timeouts: dict[str, float], stall_before: set[str]) -> list[StreamEvent]:
    lane = {"primary": "f/a", "fallback": ["f/b"], "timeouts": timeouts}
    gw = gateway(config({"work": lane}), clock=LoopClock(asyncio.get_running_loop()))
    fake(gw).stream = stalling(stall_before)  # type: ignore[method-assign]
    try:
        return [event async for event in gw.stream(ask(), WORK)]
    finally:
        await gw.aclose()


async def test_a_first_delta_later_than_the_attempt_budget_falls_back() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await events_of({"attempt_s": 0.1, "total_s": 5.0}, stall_before={"a"})
    opened, hello, error = events
    assert str(getattr(opened, "model", "")) == "f/b"
    assert hello == TextDelta("Hello")
    assert isinstance(error, ErrorDelta)  # f/b then stalls until the lane's deadline
    # f/a was given up twice (a timeout is retried once, after a 0.5 s backoff), each
    # after its attempt budget and the engine's 0.05 s margin; f/b then read until the
    # lane's deadline, 5 s after the request began
    assert error.trace[:3] == ("f/a:timeout", "f/a:retry", "f/a:timeout")
    assert loop.time() - started == pytest.approx(5.0)


async def test_after_its_first_delta_a_stream_has_the_lanes_deadline_not_the_attempts() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await events_of({"attempt_s": 0.1, "total_s": 0.4}, stall_before=set())
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code.value == "timeout"
    assert "lane's deadline" in str(error.error)
    assert loop.time() - started == pytest.approx(0.4)  # not cut at the first delta's 0.15 s
    assert not any(isinstance(event, StreamDone) for event in events)


async def test_a_stream_read_by_a_task_per_item_still_ends_at_the_lanes_deadline() -> None:
    """`SyncGateway` reads each item in a task of its own (`asyncio.Runner.run`). A timeout
    kept from one read to the next would belong to the task that entered it, long done by
    the stalled read: it would cancel nothing and the read would outlive the deadline."""

    async def long_then_stall(
        request: CompletionRequest, model: str, *, timeout_s: float, credential: Any = None
    ) -> AsyncIterator[Delta]:
        yield TextDelta("Hello there. " * 20)  # past the PII guard's window: some goes out
        await asyncio.sleep(10)
        yield FinishDelta(FinishReason.STOP)

    lane = {"primary": "f/a", "timeouts": {"attempt_s": 0.1, "total_s": 0.4}}
    loop = asyncio.get_running_loop()
    gw = gateway(config({"work": lane}), clock=LoopClock(loop))
    fake(gw).stream = long_then_stall  # type: ignore[method-assign]
    started = loop.time()
    events = gw.stream(ask(), WORK)
    try:
        items: list[StreamEvent] = []
        while True:
            try:
                items.append(await asyncio.create_task(anext(events)))  # type: ignore[arg-type]
            except StopAsyncIteration:
                break
    finally:
        await events.aclose()
        await gw.aclose()
    assert isinstance(items[-1], ErrorDelta)
    assert "lane's deadline" in str(items[-1].error)
    assert loop.time() - started == pytest.approx(0.4)
