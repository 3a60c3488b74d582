"""The batched background writer: one queue, drained by one task, one transaction per batch.

Why one task: a single writer keeps SQLite free of lock contention and turns
many small writes into few transactions. Group commit: a caller that must know
its row is durable (`submit_and_wait`, used by strict durability) queues its
item and waits on a future; whatever is queued while a flush is running goes out
together in the next one, so 32 concurrent requests cost about one commit, not
32. Everything else (`submit`) is fire-and-forget and never blocks the request.

Linger: with `linger_s > 0`, fire-and-forget items wait up to that long for
company before they are written, so under load many requests' final rows share
one commit (a commit costs about as much as 40 rows). Anything urgent ends the
wait at once: a `submit_and_wait` caller (its batch also takes the lingering
rows along), `flush()`, `aclose()`, or a full batch.

The queue is bounded: when the store cannot keep up or is down, new
fire-and-forget items are dropped and counted rather than eating memory.
`aclose()` drains what is queued before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from laneway.audit.store import AuditError, AuditStore, WriteBatch

logger = logging.getLogger("laneway.audit")

T = TypeVar("T")
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Future[None]"]


def default_spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """Run the drain task on the current loop; the engine passes its TaskSupervisor instead."""
    return asyncio.ensure_future(coro)


class AuditWriter(Generic[T]):
    """One queue of items, written in batches by one drain task.

    Hot path, by measurement: `submit` is called for every event, so it appends
    the bare item and returns without touching the loop when a drain is already
    due (woken or lingering). Waiters sit in their own queue, each with the
    count of items that must be written before it is resolved, so items need no
    (item, future) pairs and a batch is taken with one `list()`.
    """

    def __init__(
        self,
        store: AuditStore,
        to_batch: Callable[[list[T]], WriteBatch],
        *,
        before_first_write: Callable[[], Awaitable[None]] | None = None,
        spawn: Spawn | None = None,
        max_batch: int = 2048,
        max_queue: int = 100_000,
        linger_s: float = 0.0,
    ) -> None:
        self._store = store
        self._to_batch = to_batch
        self._before_first_write = before_first_write
        self._spawn = spawn or default_spawn
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._linger_s = linger_s
        self._linger: asyncio.TimerHandle | None = None
        self._queue: deque[T] = deque()
        self._queued = 0  # items ever queued; a waiter waits for the first N to be written
        self._taken = 0  # items ever taken into a batch
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the drain task's, once it exists
        self._woken = False  # mirrors self._wake.is_set(), without the call
        self._task: asyncio.Future[None] | None = None
        self._closing = False
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failed = 0

    def submit(self, item: T) -> bool:
        """Queue `item` without waiting; False when it was dropped (queue full or closed)."""
        queue = self._queue
        if self._closing or len(queue) >= self._max_queue:
            self.dropped += 1
            return False
        queue.append(item)
        self._queued += 1
        if not self._woken:  # else the drain is due anyway: nothing to arrange
            if len(queue) >= self._max_batch:
                self._kick()
            elif self._linger is None:
                self._kick(urgent=False)
        return True

    async def submit_and_wait(self, item: T) -> None:
        """Queue `item` and return once its batch is committed; raises AuditError if not."""
        if self._closing:
            raise AuditError("the audit writer is closed; no new request can be recorded")
        loop = self._loop or asyncio.get_running_loop()  # get_running_loop() costs a getpid()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append(item)
        self._queued += 1
        self._waiters.append((self._queued, future))
        if not self._woken:
            self._kick()
        await future

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or has failed)."""
        if self._queue:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((self._queued, future))
            self._kick()
            with contextlib.suppress(AuditError):
                await asyncio.shield(future)

    async def aclose(self) -> None:
        """Stop taking items, write everything queued, and end the drain task."""
        self._closing = True
        if self._task is None and self._queue:
            self._kick()
        if self._task is not None and self._task.done():
            await self._write_all()  # the task was cancelled earlier: write what is left here
        elif self._task is not None:
            self._kick()
            await self._task

    def _kick(self, *, urgent: bool = True) -> None:
        """Wake the drain task now, or (not urgent, lingering) once `linger_s` has passed."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (a sync caller): the first async call starts the task
        if self._wake is None:
            self._wake = asyncio.Event()
            self._loop = loop
        if self._task is None:
            self._task = self._spawn(self._drain())
        if urgent or self._linger_s <= 0 or self._closing:
            self._cancel_linger()
            self._set_wake()
        elif not self._woken:
            self._arm_linger(loop)

    def _set_wake(self) -> None:
        if self._wake is not None and not self._woken:
            self._woken = True
            self._wake.set()

    def _arm_linger(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._linger is None:
            self._linger = loop.call_later(self._linger_s, self._linger_over)

    def _linger_over(self) -> None:
        self._linger = None
        self._set_wake()

    async def _drain(self) -> None:
        assert self._wake is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._woken = False
                self._cancel_linger()  # written now: no need to wake again for them
                while self._queue:
                    await self._write_next_batch()
                    if self._lingering():  # what is left is not urgent: let it gather company
                        self._arm_linger(asyncio.get_running_loop())
                        break
                if self._closing and not self._queue:
                    self._cancel_linger()
                    return
        except asyncio.CancelledError:
            if self._queue:  # cancelled before aclose(): still try to keep what is queued
                await asyncio.shield(self._write_all())
            raise

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def _lingering(self) -> bool:
        """More is queued, none of it urgent (no waiter, not closing, not a full batch)."""
        return (
            0 < len(self._queue) < self._max_batch
            and not self._waiters
            and self._linger_s > 0
            and not self._woken
            and not self._closing
        )

    async def _write_all(self) -> None:
        while self._queue:
            await self._write_next_batch()

    async def _write_next_batch(self) -> None:
        items = self._take_batch()
        waiters = self._waiters
        done: list[asyncio.Future[None]] = []
        while waiters and waiters[0][0] <= self._taken:
            done.append(waiters.popleft()[1])
        error: AuditError | None = None
        try:
            if self._before_first_write is not None:
                await self._before_first_write()
                self._before_first_write = None
            if items:
                await self._store.write(self._to_batch(items))
                self.batches += 1
            self.written += len(items)
        except AuditError as exc:
            error = exc
            self.failed += len(items)
            logger.error("audit write of %d items failed: %s", len(items), exc)
        for future in done:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _take_batch(self) -> list[T]:
        queue = self._queue
        if len(queue) <= self._max_batch:
            items = list(queue)
            queue.clear()
        else:
            items = [queue.popleft() for _ in range(self._max_batch)]
        self._taken += len(items)
        return items
