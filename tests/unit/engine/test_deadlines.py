"""Deadlines (`clock.TimeLimit`, `ReadTimeLimit`) never swallow a cancellation from outside.

An earlier hand-written `ReadDeadline` turned a cancellation that landed in the
same pass of the loop as its own expiry into a TimeoutError: the caller who
cancelled a stream got an `ErrorDelta` and a stream that went on. Today's tell
the two apart by the task's `cancelling()` count, as `asyncio.timeout` does. The
loop runs on virtual time (`virtual_time.py`), so both land at exactly the same
instant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from engine_scenario import ask, config, fake, gateway

from laneway.clock import ReadTimeLimit, TimeLimit
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


# -- the deadlines themselves --------------------------------------------------------


async def _stall() -> None:
    await asyncio.Event().wait()


def test_a_deadline_past_its_time_ends_the_block_in_a_timeout() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError), TimeLimit(loop.time() + 2.0):
            await _stall()
        return loop.time()

    assert run_on_virtual_time(main()) == pytest.approx(2.0)


def test_a_deadline_met_leaves_no_timer_behind() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with TimeLimit(loop.time() + 1.0) as deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)  # past the deadline, outside its block: nothing cancels
        assert not deadline.expired

    run_on_virtual_time(main())


@pytest.mark.parametrize("deadline_first", [True, False])
def test_a_cancellation_at_the_deadlines_instant_stays_a_cancellation(
    deadline_first: bool,
) -> None:
    async def guarded() -> None:
        loop = asyncio.get_running_loop()
        with TimeLimit(loop.time() + 1.0):
            await _stall()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(guarded())
        await asyncio.sleep(0)  # the block is entered: its timer is armed first
        if deadline_first:
            loop.call_at(loop.time() + 1.0, task.cancel)
        else:  # armed before the block's own timer could be: runs first at that instant
            await asyncio.sleep(0.5)
            loop.call_at(loop.time() + 0.5, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    run_on_virtual_time(main())


def test_a_read_deadline_cancels_the_read_it_lands_in() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = ReadTimeLimit(loop.time() + 1.0)
        steps: list[str] = []
        try:
            with deadline:
                await asyncio.sleep(0.4)
            steps.append("read")
            with pytest.raises(TimeoutError), deadline:
                await _stall()
            steps.append(f"timed out at {loop.time():g}")
        finally:
            deadline.cancel()
        return steps

    assert run_on_virtual_time(main()) == ["read", "timed out at 1"]


def test_a_read_deadline_never_cancels_the_work_between_reads() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = ReadTimeLimit(loop.time() + 1.0)
        steps: list[str] = []
        with deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # the caller's own work, past the deadline: not cancelled
        steps.append("work done")
        with pytest.raises(TimeoutError), deadline:  # the next read fails at once
            steps.append("read begun")
        steps.append(f"at {loop.time():g}")
        deadline.cancel()
        return steps

    assert run_on_virtual_time(main()) == ["work done", "at 2.5"]


def test_a_cancellation_at_a_read_deadlines_instant_stays_a_cancellation() -> None:
    async def reads() -> None:
        loop = asyncio.get_running_loop()
        deadline = ReadTimeLimit(loop.time() + 1.0)
        try:
            with deadline:
                await _stall()
        finally:
            deadline.cancel()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.create_task(reads())
        await asyncio.sleep(0)
        loop.call_at(loop.time() + 1.0, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    run_on_virtual_time(main())


@pytest.mark.parametrize(("moved_to", "fires_at"), [(3.0, 3.0), (0.5, 0.5)])
def test_a_read_deadline_moved_fires_at_its_new_time(moved_to: float, fires_at: float) -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        limit = ReadTimeLimit(loop.time() + 1.0)
        limit.reschedule(loop.time() + moved_to)
        try:
            with pytest.raises(TimeoutError), limit:
                await _stall()
        finally:
            limit.cancel()
        return loop.time()

    assert run_on_virtual_time(main()) == pytest.approx(fires_at)
