"""Deadlines are `asyncio.timeout`: they never swallow a cancellation from outside.

The hand-written `ReadDeadline` this replaced turned a cancellation that landed in
the same pass of the loop as its own expiry into a TimeoutError: the caller who
cancelled a stream got an `ErrorDelta` and a stream that went on. The loop runs
on virtual time (`virtual_time.py`), so both land at exactly the same instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from engine_scenario import ask, config, fake, gateway

from laneway.types import CompletionRequest, Delta, StreamEvent, TaskContext, TextDelta
from virtual_time import LoopClock

pytestmark = pytest.mark.virtual_time

WORK = TaskContext(lane="work")
TOTAL_S = 1.0


async def hello_then_stall(
    request: CompletionRequest, model: str, *, timeout_s: float, credential: Any = None
) -> AsyncIterator[Delta]:
    yield TextDelta("Hello")
    await asyncio.Event().wait()  # never another delta


async def test_a_cancellation_in_the_same_pass_as_the_deadline_stays_a_cancellation() -> None:
    loop = asyncio.get_running_loop()
    lane = {"primary": "f/a", "timeouts": {"total_s": TOTAL_S}}
    gw = gateway(config({"work": lane}), clock=LoopClock(loop))
    fake(gw).stream = hello_then_stall  # type: ignore[method-assign]
    seen: list[StreamEvent] = []

    async def consume() -> None:
        async for event in gw.stream(ask(), WORK):
            seen.append(event)

    started = loop.time()
    task = asyncio.create_task(consume())
    # the lane's deadline fires at started + TOTAL_S (nothing else moves the loop's
    # clock); the caller leaves at that very instant
    loop.call_at(started + TOTAL_S, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    await gw.aclose()

    assert loop.time() == pytest.approx(started + TOTAL_S)
    # "Hello" was still held for the PII scan; above all, no ErrorDelta: the caller left
    assert [type(e).__name__ for e in seen] == ["StreamOpened"]


async def test_the_deadline_alone_ends_the_stream_with_a_timeout() -> None:
    lane = {"primary": "f/a", "timeouts": {"total_s": TOTAL_S}}
    gw = gateway(config({"work": lane}), clock=LoopClock(asyncio.get_running_loop()))
    fake(gw).stream = hello_then_stall  # type: ignore[method-assign]
    events = [event async for event in gw.stream(ask(), WORK)]
    await gw.aclose()
    assert type(events[-1]).__name__ == "ErrorDelta"
    assert "lane's deadline" in str(getattr(events[-1], "error", ""))
