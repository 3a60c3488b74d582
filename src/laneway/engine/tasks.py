"""The one place that starts background tasks, so none is lost or left running;
and the cheap deadlines the hot path uses instead of `asyncio.timeout`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any


class TaskSupervisor:
    """Keeps a strong reference to each task until it ends; `aclose` cancels the rest."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class ReadDeadline:
    """One deadline over a stream's many reads: `with reads: delta = await anext(...)`.

    A timer per read (`CancelAfter`) cost a timer handle per delta. This arms
    one timer for the whole deadline. When it fires while the task waits inside
    `with`, the wait is cancelled and becomes TimeoutError; when it fires
    between reads (the caller handling a delta), nothing is cancelled and the
    next `with` raises TimeoutError at once. The task that creates it must be
    the one that reads; `close()` disarms it.
    """

    __slots__ = ("_due", "_expired", "_task", "_timer", "_waiting")

    def __init__(self, delay_s: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self._task = task
        self._expired = False
        self._waiting = False
        self._due: float | None = None  # set by `move_to`: the timer may fire before it
        self._timer = task.get_loop().call_later(delay_s, self._expire)

    def move_to(self, delay_s: float) -> None:
        """The deadline is now `delay_s` from now, whether it had passed or not.

        Why: a stream's first delta and its rest have different deadlines, and one
        timer serves both. A later deadline keeps the armed timer, which re-arms
        itself when it fires early; a new timer is armed only for an earlier
        deadline, or when the old one fired or was closed.
        """
        loop = self._task.get_loop()
        due = self._due = loop.time() + delay_s
        timer = self._timer
        if self._expired or timer.cancelled() or due < timer.when():  # fired, closed, too late
            timer.cancel()
            self._timer = loop.call_at(due, self._expire)
        self._expired = False

    def _expire(self) -> None:
        due = self._due
        if due is not None:
            loop = self._task.get_loop()
            if loop.time() < due:  # moved later since the timer was armed
                self._timer = loop.call_at(due, self._expire)
                return
        self._expired = True
        if self._waiting:
            self._task.cancel()

    def __enter__(self) -> ReadDeadline:
        if self._expired:
            raise TimeoutError
        self._waiting = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._waiting = False
        if self._expired and exc_type is asyncio.CancelledError:
            self._task.uncancel()
            raise TimeoutError from None

    def close(self) -> None:
        self._timer.cancel()


class CancelAfter(ReadDeadline):
    """`with CancelAfter(delay_s): await ...` raises TimeoutError when the wait outlasts it.

    `asyncio.timeout`'s job at about a quarter of its cost, which counts where it
    runs per request: a `ReadDeadline` for one read, disarmed on the way out.
    Wrap only awaits that cannot swallow a cancellation.
    """

    __slots__ = ()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
        super().__exit__(*exc_info)
