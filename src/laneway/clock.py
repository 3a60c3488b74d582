"""The one place that reads clocks and sleeps, so everything else can be tested with a fake."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
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


async def next_pass() -> None:
    """Let the loop's other tasks run once; no time is meant to pass, so no clock."""
    await asyncio.sleep(0)
