"""`CancelAfter`, the hot path's cheap deadline (request bodies, streamed deltas)."""

from __future__ import annotations

import asyncio

import pytest

from laneway.engine.tasks import CancelAfter


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
