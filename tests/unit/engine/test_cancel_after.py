"""`CancelAfter` and `ReadDeadline`, the hot path's cheap deadlines (request bodies, a
stream's first token; a stream's reads)."""

from __future__ import annotations

import asyncio

import pytest

from laneway.engine.tasks import CancelAfter, ReadDeadline


async def test_an_await_that_outlasts_the_deadline_raises_timeout_and_leaves_the_task_usable() -> (
    None
):
    with pytest.raises(TimeoutError), CancelAfter(0.01):
        await asyncio.sleep(5)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0.02)  # no cancellation left pending for a later await


async def test_an_await_within_the_deadline_returns_and_the_timer_is_gone() -> None:
    with CancelAfter(0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.08)  # had the timer survived, this sleep would be cancelled


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    async def waits() -> None:
        with CancelAfter(5):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_read_that_outlasts_the_stream_deadline_raises_timeout() -> None:
    reads = ReadDeadline(0.01)
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(5)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    reads.close()


async def test_work_between_reads_is_never_cancelled_and_the_next_read_times_out() -> None:
    reads = ReadDeadline(0.01)
    with reads:
        await asyncio.sleep(0)
    await asyncio.sleep(0.03)  # the caller handling a delta while the deadline passes
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(0)  # never reached: the deadline is gone
    reads.close()


async def test_reads_within_the_deadline_pass_and_a_closed_deadline_cancels_nothing() -> None:
    reads = ReadDeadline(0.05)
    for _ in range(3):
        with reads:
            await asyncio.sleep(0)
    reads.close()
    with reads:
        await asyncio.sleep(0.08)  # closed: the timer is gone, this read may take its time


async def test_a_deadline_moved_later_lets_the_read_run_past_the_first_one() -> None:
    """A stream's first-delta bound becomes the lane's deadline on the same timer."""
    reads = ReadDeadline(0.01)
    reads.move_to(0.2)
    with reads:
        await asyncio.sleep(0.05)  # past the first deadline: the timer re-arms itself
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(5)  # the moved deadline still holds
    reads.close()


async def test_a_deadline_moved_earlier_or_after_it_passed_fires_at_its_new_time() -> None:
    reads = ReadDeadline(5)
    reads.move_to(0.01)
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(5)
    await asyncio.sleep(0)  # it has fired: moving it again arms it anew
    reads.move_to(0.2)
    with reads:
        await asyncio.sleep(0.05)
    reads.move_to(0.01)
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(5)
    reads.close()
    reads.move_to(0.01)  # a closed deadline moved is armed again
    with pytest.raises(TimeoutError), reads:
        await asyncio.sleep(5)
    reads.close()
