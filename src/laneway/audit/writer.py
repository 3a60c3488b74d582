"""The batched background writer: one queue, drained by one task, one transaction per batch.

Why one task: a single writer keeps SQLite free of lock contention and turns
many small writes into few transactions. Everything fire-and-forget (`submit`)
never blocks the request.

Urgent items: a caller that must know its row is durable (`submit_and_wait`,
strict durability's `pending` row) waits for a commit of the urgent items only,
so its wait does not include anyone's lingering rows. Urgent items that arrive
while a commit runs go out together in the next one (group commit: 32
concurrent requests cost about one commit, not 32). A caller that is alone
(`alone=True`: no other request in flight, nothing else urgent, no write
running) commits its item itself, without waking the drain task: two loop
passes fewer on a quiet server's path (docs/performance.md, `## Server`).

Linger: with `linger_s > 0`, fire-and-forget items wait up to that long for
company before they are written, so under load many requests' final rows share
one commit (a commit costs about as much as 40 rows). `flush()`, `aclose()` or
a full batch end the wait at once.

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

from laneway.audit.store import AuditStore, WriteBatch
from laneway.clock import Clock, SystemClock, Timer, next_pass
from laneway.errors import AuditError

logger = logging.getLogger("laneway.audit")

T = TypeVar("T")
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Future[None]"]


def default_spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """Run the drain task on the current loop; the engine passes its TaskSupervisor instead."""
    return asyncio.ensure_future(coro)


class AuditWriter(Generic[T]):
    """A queue of fire-and-forget items and a queue of urgent ones, written by one drain task.

    Hot path, by measurement: `submit` is called for every event, so it appends
    the bare item and returns without touching the loop when a drain is already
    due (woken or lingering). Flush waiters sit in their own queue, each with the
    count of fire-and-forget items that must be written before it is resolved.
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
        on_batch: Callable[[int, bool], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`on_batch(taken, ok)`: after each fire-and-forget batch, whether it was committed
        and how many items had ever been taken once it was (the first `taken` queued).
        `clock` runs the linger's timer (a test's fake clock moves it by hand)."""
        self._store = store
        self._on_batch = on_batch
        self._to_batch = to_batch
        self._before_first_write = before_first_write
        self._spawn = spawn or default_spawn
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._linger_s = linger_s
        self._clock: Clock = clock or SystemClock()
        self._linger: Timer | None = None
        self._queue: deque[T] = deque()
        self._urgent: deque[tuple[T, asyncio.Future[None]]] = deque()
        self._queued = 0  # items ever queued; a flush waits for the first N to be written
        self._taken = 0  # items ever taken into a batch
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the drain task's, once it exists
        self._woken = False  # mirrors self._wake.is_set(), without the call
        self._due = False  # what is queued must be written now, lingering or not
        self._writing = False  # a commit is running
        self._task: asyncio.Future[None] | None = None
        self._closing = False
        self.written = 0
        self.batches = 0
        self.dropped = 0
        self.failed = 0

    @property
    def queued(self) -> int:
        """Items ever queued by `submit`."""
        return self._queued

    def can_take(self) -> bool:
        """Would `submit` queue an item now (not closed, queue not full)?"""
        return not self._closing and len(self._queue) < self._max_queue

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

    async def submit_and_wait(self, item: T, *, alone: bool = False) -> None:
        """Return once `item` is committed; raises AuditError if not.

        `alone`: the caller knows no other request is in flight; with nothing
        else urgent and no commit running, it writes `item` itself.
        """
        if self._closing:
            raise AuditError("the audit writer is closed; no new request can be recorded")
        if alone and not self._writing and not self._urgent:
            error = await self._write([item], [])
            if error is not None:
                raise error
            return
        loop = self._loop or asyncio.get_running_loop()  # get_running_loop() costs a getpid()
        future: asyncio.Future[None] = loop.create_future()
        self._urgent.append((item, future))
        if not self._woken:
            self._kick(due=False)
        await future

    async def flush(self) -> None:
        """Wait until everything queued so far is written (or has failed)."""
        futures = [future for _, future in self._urgent]
        if self._queue:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((self._queued, future))
            futures.append(future)
            self._kick()
        for waited in futures:
            with contextlib.suppress(AuditError):
                await asyncio.shield(waited)

    async def aclose(self) -> None:
        """Stop taking items, write everything queued, and end the drain task."""
        self._closing = True
        if self._task is None and (self._queue or self._urgent):
            self._kick()
        if self._task is not None and self._task.done():
            await self._write_all()  # the task was cancelled earlier: write what is left here
        elif self._task is not None:
            self._kick()
            await self._task

    def _kick(self, *, urgent: bool = True, due: bool = True) -> None:
        """Wake the drain task now, or (not urgent, lingering) once `linger_s` has passed.

        `due=False` wakes it for the urgent items only: the rest may keep lingering.
        """
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
            if due:
                self._due = True
                self._cancel_linger()
            self._set_wake()
        elif not self._woken:
            self._arm_linger()

    def _set_wake(self) -> None:
        if self._wake is not None and not self._woken:
            self._woken = True
            self._wake.set()

    def _arm_linger(self) -> None:
        if self._linger is None:
            self._linger = self._clock.call_later(self._linger_s, self._linger_over)

    def _linger_over(self) -> None:
        self._linger = None
        self._due = True
        self._set_wake()

    async def _drain(self) -> None:
        assert self._wake is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._woken = False
                while self._urgent:
                    await self._write_urgent()
                while self._queue and self._must_write_now():
                    self._due = False
                    self._cancel_linger()  # written now: no need to wake again for them
                    await self._write_next_batch()
                    while self._urgent:  # urgent items that came meanwhile go first
                        await self._write_urgent()
                    if self._queue:  # a backlog: let requests run between its commits
                        await next_pass()
                if self._queue:  # what is left is not due: let it gather company
                    self._arm_linger()
                if self._closing and not self._queue and not self._urgent:
                    self._cancel_linger()
                    return
        except asyncio.CancelledError:
            if self._queue or self._urgent:  # cancelled before aclose(): still keep what is queued
                await asyncio.shield(self._write_all())
            raise

    def _must_write_now(self) -> bool:
        return (
            self._due
            or self._closing
            or self._linger_s <= 0
            or len(self._queue) >= self._max_batch
            or bool(self._waiters)
        )

    def _cancel_linger(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    async def _write_all(self) -> None:
        while self._urgent:
            await self._write_urgent()
        while self._queue:
            await self._write_next_batch()

    async def _write_urgent(self) -> None:
        urgent = self._urgent
        taken = [urgent.popleft() for _ in range(min(len(urgent), self._max_batch))]
        await self._write([item for item, _ in taken], [future for _, future in taken])

    async def _write_next_batch(self) -> None:
        items = self._take_batch()
        waiters = self._waiters
        done: list[asyncio.Future[None]] = []
        while waiters and waiters[0][0] <= self._taken:
            done.append(waiters.popleft()[1])
        taken = self._taken
        error = await self._write(items, done)
        if self._on_batch is not None:
            self._on_batch(taken, error is None)

    async def _write(self, items: list[T], done: list[asyncio.Future[None]]) -> AuditError | None:
        """Commit `items`, then resolve `done`; the failure, if any (logged and counted)."""
        error: AuditError | None = None
        self._writing = True
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
        except Exception as exc:  # a row the store refused (an integer past 64 bits...):
            error = AuditError(f"audit write failed: {type(exc).__name__}: {exc}")  # the
            self.failed += len(items)  # writer must live on for the next batch
            logger.exception("audit write of %d items failed", len(items))
        finally:
            self._writing = False
        for future in done:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        return error

    def _take_batch(self) -> list[T]:
        queue = self._queue
        if len(queue) <= self._max_batch:
            items = list(queue)
            queue.clear()
        else:
            items = [queue.popleft() for _ in range(self._max_batch)]
        self._taken += len(items)
        return items
