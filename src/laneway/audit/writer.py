"""The batched background writer: one queue, drained by one task, one transaction per batch.

Why one task: a single writer keeps SQLite free of lock contention and turns
many small writes into few transactions. Group commit: a caller that must know
its row is durable (`submit_and_wait`, used by strict durability) queues its
item with a future; whatever is queued while a flush is running goes out
together in the next one, so 32 concurrent requests cost about one commit, not
32. Everything else (`submit`) is fire-and-forget and never blocks the request.

Linger: with `linger_s > 0`, fire-and-forget items wait up to that long for
company before they are written, so under load many requests' final rows share
one commit (a commit, not the rows, is what costs). Anything urgent ends the
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
        self._waiting = 0  # queued items with a future: someone waits, so nothing lingers
        self._queue: deque[tuple[T | None, asyncio.Future[None] | None]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Future[None] | None = None
        self._closing = False
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failed = 0

    def submit(self, item: T) -> bool:
        """Queue `item` without waiting; False when it was dropped (queue full or closed)."""
        if self._closing or len(self._queue) >= self._max_queue:
            self.dropped += 1
            return False
        self._queue.append((item, None))
        self._kick(urgent=len(self._queue) >= self._max_batch)
        return True

    async def submit_and_wait(self, item: T) -> None:
        """Queue `item` and return once its batch is committed; raises AuditError if not."""
        if self._closing:
            raise AuditError("the audit writer is closed; no new request can be recorded")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._waiting += 1
        self._kick()
        await future

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or has failed)."""
        if self._queue:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append((None, future))  # a marker: resolved when its batch is done
            self._waiting += 1
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
        if self._task is None:
            self._task = self._spawn(self._drain())
        if urgent or self._linger_s <= 0 or self._closing:
            self._cancel_linger()
            self._wake.set()
        elif not self._wake.is_set():
            self._arm_linger(loop)

    def _arm_linger(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._linger is None:
            self._linger = loop.call_later(self._linger_s, self._linger_over)

    def _linger_over(self) -> None:
        self._linger = None
        if self._wake is not None:
            self._wake.set()

    async def _drain(self) -> None:
        assert self._wake is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
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
        assert self._wake is not None
        return (
            0 < len(self._queue) < self._max_batch
            and self._waiting == 0
            and self._linger_s > 0
            and not self._wake.is_set()
            and not self._closing
        )

    async def _write_all(self) -> None:
        while self._queue:
            await self._write_next_batch()

    async def _write_next_batch(self) -> None:
        count = min(len(self._queue), self._max_batch)
        taken = [self._queue.popleft() for _ in range(count)]
        items = [item for item, _ in taken if item is not None]
        waiters = [future for _, future in taken if future is not None]
        self._waiting -= len(waiters)
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
        for future in waiters:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
