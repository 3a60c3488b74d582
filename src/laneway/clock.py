"""The one place that reads clocks and sleeps, so everything else can be tested with a fake."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol


class Timer(Protocol):
    """A callback armed by `Clock.call_later`; `cancel` stops it if it has not run."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def wall(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer: ...


class SystemClock:
    """The real clock: the `time` functions themselves, not methods around them (a
    request reads the clock about 17 times, a Python frame each as methods)."""

    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """`callback` from the running loop after `delay_s` (the loop's own timer)."""
        return asyncio.get_running_loop().call_later(delay_s, callback)


class _FakeTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock tests move by hand; `sleep` advances it and records the delay.

    Timers armed with `call_later` fire only when the clock is moved past
    them (`advance` or `sleep`), never as real time passes.
    """

    def __init__(self, start: float = 1_000.0, wall_start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall_start - start
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._fire_due()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)  # still yield, so concurrency behaves as in production

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """`callback` once the clock has been moved `delay_s` on from now."""
        timer = _FakeTimer(callback)
        heapq.heappush(self._timers, (self.now + max(0.0, delay_s), next(self._order), timer))
        return timer

    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self.now:
            timer = heapq.heappop(self._timers)[2]
            if not timer.cancelled:
                timer.callback()


class TimeLimit:
    """`asyncio.timeout_at` as a plain `with`, for what runs on every request.

    The same rules: past `when` the task is cancelled, and the block ends in
    `TimeoutError` unless the task was also cancelled from outside (its
    `cancelling()` count tells the two apart, as asyncio's does). asyncio's own
    cost twice the timer it arms (docs/performance.md).
    """

    __slots__ = ("_cancelling", "_handle", "_task", "_when", "expired")

    def __init__(self, when: float) -> None:
        self._when = when
        self.expired = False

    def __enter__(self) -> TimeLimit:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a TimeLimit is entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = asyncio.get_running_loop().call_at(self._when, self._expire)
        return self

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc


class ReadTimeLimit:
    """One deadline over many reads with other work between them (a stream's), on one timer.

    `with limit:` around each read. Past `when`, the read in progress is
    cancelled and ends in `TimeoutError` (as under `TimeLimit`), and a read begun
    later fails at once; the work between reads is never cancelled. `cancel()`
    once no read follows.
    """

    __slots__ = ("_armed", "_cancelling", "_handle", "_reading", "_when", "expired")

    def __init__(self, when: float) -> None:
        self._reading: asyncio.Task[object] | None = None
        self._cancelling = 0
        self.expired = False
        self._when = self._armed = when
        self._handle = asyncio.get_running_loop().call_at(when, self._expire)

    def reschedule(self, when: float) -> None:
        """Move the deadline. A later one costs nothing now: the timer, when it fires at the
        earlier time, arms itself again for the later."""
        if when < self._armed:
            self._handle.cancel()
            self._armed = when
            self._handle = asyncio.get_running_loop().call_at(when, self._expire)
        self._when = when

    def __enter__(self) -> None:
        if self.expired:
            raise TimeoutError
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a ReadTimeLimit is entered inside a task")
        self._reading = task
        self._cancelling = task.cancelling()

    def _expire(self) -> None:
        if self._when > self._armed:  # moved later since the timer was armed
            self._armed = self._when
            self._handle = asyncio.get_running_loop().call_at(self._when, self._expire)
            return
        self.expired = True
        if self._reading is not None:
            self._reading.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._reading = self._reading, None
        # expired while this read ran (before it, `__enter__` raised): the task was cancelled
        if (
            self.expired
            and task is not None
            and task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc

    def cancel(self) -> None:
        self._handle.cancel()


async def next_pass() -> None:
    """Let the loop's other tasks run once; no time is meant to pass, so no clock."""
    await asyncio.sleep(0)
