"""Virtual time: a loop whose clock jumps to its next timer whenever every task waits.

`asyncio.timeout`, aiohttp's timeouts and uvicorn's timers read the loop's clock,
not laneway's `Clock`, so deadline tests need the loop itself on virtual time.
`looptime` provides such a loop. Its pytest plugin is disabled in pyproject.toml
(it opens an event loop for every test and leaves some unclosed); instead a test
or module marked `virtual_time` gets its loop from `new_virtual_loop` through
pytest-asyncio's loop-factory hook (tests/conftest.py), fixtures included.

Peers in the same loop (an asyncio server on 127.0.0.1, a stalling provider)
wait on the same virtual clock: a 30 s stall takes no real time and the loop's
clock says exactly when a deadline fired. A peer in another thread or process
would not: time jumps past it, so those tests inject a clock instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import looptime

#: `LoopClock.wall` at loop time 0 (2023-11-14), as `FakeClock`'s
WALL_START = 1_700_000_000.0


#: real seconds a virtual loop may wait with no timer armed and no I/O before its tasks
#: fail with `looptime.IdleTimeoutError`: in-loop peers answer at once, so that is a hang
IDLE_TIMEOUT_S = 10.0


def new_virtual_loop() -> asyncio.AbstractEventLoop:
    """A fresh event loop on virtual time, starting at 0."""
    return looptime.new_event_loop(start=0.0, idle_timeout=IDLE_TIMEOUT_S)


class LoopClock:
    """laneway's `Clock` on the loop's own time, so backoffs, deadlines measured with
    `monotonic` and the loop's timers agree; on a virtual loop none of them waits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def monotonic(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return WALL_START + self._loop.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._loop.call_later(delay_s, callback)
