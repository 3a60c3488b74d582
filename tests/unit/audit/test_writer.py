"""The batched writer over a real SQLite store: bounded queue, flush, close."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest

from laneway.audit.records import RoutingEventRow
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import AuditStore, WriteBatch
from laneway.audit.writer import AuditWriter
from laneway.clock import FakeClock, next_pass
from laneway.errors import AuditError


def _to_batch(items: list[int]) -> WriteBatch:
    return WriteBatch(events=[RoutingEventRow(None, float(i), i, "budget") for i in items])


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_routing_events").fetchone()[0])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    result = SqliteStore(tmp_path / "a.db")
    await result.open()
    yield result
    await result.aclose()


async def test_full_queue_drops_and_counts_instead_of_growing(
    store: SqliteStore, tmp_path: Path
) -> None:
    writer = AuditWriter(store, _to_batch, max_queue=3)
    accepted = [writer.submit(i) for i in range(5)]  # no await: the drain task has not run yet
    assert accepted == [True, True, True, False, False]
    await writer.aclose()
    assert (writer.dropped, writer.written, _count(tmp_path / "a.db")) == (2, 3, 3)


async def test_flush_waits_for_queued_items_and_batches_them(
    store: SqliteStore, tmp_path: Path
) -> None:
    writer = AuditWriter(store, _to_batch, max_batch=4)
    for i in range(10):
        writer.submit(i)
    await writer.flush()
    assert _count(tmp_path / "a.db") == 10
    assert writer.batches == 3  # 4 + 4 + 2
    await writer.aclose()


async def test_submit_after_close_is_dropped(store: SqliteStore, tmp_path: Path) -> None:
    writer = AuditWriter(store, _to_batch)
    await writer.aclose()
    assert writer.submit(1) is False
    assert _count(tmp_path / "a.db") == 0


async def test_a_cancelled_drain_task_still_writes_what_was_queued(
    store: SqliteStore, tmp_path: Path
) -> None:
    """A supervisor that cancels its tasks before the sink's aclose() loses nothing."""
    tasks: list[asyncio.Task[None]] = []

    def spawn(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        tasks.append(asyncio.ensure_future(coro))
        return tasks[-1]

    writer = AuditWriter(store, _to_batch, spawn=spawn)
    writer.submit(1)
    tasks[0].cancel()
    writer.submit(2)
    await asyncio.gather(*tasks, return_exceptions=True)
    await writer.aclose()
    assert _count(tmp_path / "a.db") == 2


async def test_lingering_items_wait_for_company_and_an_urgent_item_commits_alone(
    store: SqliteStore, tmp_path: Path
) -> None:
    """With a linger, fire-and-forget rows wait for company; an urgent submit commits only
    the urgent items, so its wait does not include anyone's lingering rows."""
    writer = AuditWriter(store, _to_batch, linger_s=3600.0)
    for i in range(5):
        writer.submit(i)
    for _ in range(5):
        await asyncio.sleep(0)  # let the drain task run: it must not write yet
    assert (writer.batches, _count(tmp_path / "a.db")) == (0, 0)
    await writer.submit_and_wait(5)  # returns at once, not after an hour
    assert (writer.batches, _count(tmp_path / "a.db")) == (1, 1)
    await writer.flush()
    assert (writer.batches, _count(tmp_path / "a.db")) == (2, 6)
    await writer.aclose()


class _CommitsAtOnce:
    """The one store call the writer makes, done without I/O: only the writer's timing shows."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def write(self, batch: WriteBatch) -> None:
        self.batches.append(len(batch))


async def test_the_linger_is_timed_by_the_writers_clock() -> None:
    """Lingering rows wait until the injected clock passes `linger_s`, whatever the loop's
    clock says: with a fake clock, only the test moves time."""
    store = _CommitsAtOnce()
    clock = FakeClock()
    writer = AuditWriter(cast(AuditStore, store), _to_batch, linger_s=3600.0, clock=clock)
    writer.submit(0)
    writer.submit(1)
    clock.advance(3599.0)
    for _ in range(5):
        await next_pass()
    assert store.batches == []
    clock.advance(1.0)
    for _ in range(5):
        await next_pass()
    assert store.batches == [2]
    await writer.aclose()


async def test_concurrent_urgent_items_share_one_commit(store: SqliteStore, tmp_path: Path) -> None:
    writer = AuditWriter(store, _to_batch, linger_s=3600.0)
    await asyncio.gather(*(writer.submit_and_wait(i) for i in range(8)))
    assert (writer.batches, _count(tmp_path / "a.db")) == (1, 8)
    await writer.aclose()


async def test_an_urgent_item_alone_is_committed_by_its_caller(
    store: SqliteStore, tmp_path: Path
) -> None:
    """No drain task is woken: the caller commits its own item, and hears of a failure."""
    writer = AuditWriter(store, _to_batch, linger_s=3600.0)
    writer.submit(0)  # lingers, and stays out of the urgent commit
    await writer.submit_and_wait(1, alone=True)
    assert (writer.batches, _count(tmp_path / "a.db")) == (1, 1)
    await store.aclose()  # a store that can no longer be written
    with pytest.raises(AuditError):
        await writer.submit_and_wait(2, alone=True)
    assert writer.failed == 1


async def test_a_full_batch_does_not_linger(store: SqliteStore, tmp_path: Path) -> None:
    writer = AuditWriter(store, _to_batch, linger_s=3600.0, max_batch=4)
    for i in range(4):
        writer.submit(i)
    await writer.flush()
    assert (writer.batches, _count(tmp_path / "a.db")) == (1, 4)
    await writer.aclose()


async def test_a_waiter_returns_once_its_own_item_is_written(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Full batches of fire-and-forget items do not linger; what is left of them does."""
    writer = AuditWriter(store, _to_batch, max_batch=2, linger_s=3600.0)
    writer.submit(0)
    await writer.submit_and_wait(1)
    assert (writer.batches, writer.written, _count(tmp_path / "a.db")) == (1, 1, 1)
    for i in range(2, 6):
        writer.submit(i)  # with 0: two full batches of two go out, the fifth item lingers
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # a backlog yields to the loop between its commits
    assert (writer.batches, writer.written) == (3, 5)
    await writer.aclose()
    assert _count(tmp_path / "a.db") == 6


async def test_a_row_the_store_refuses_fails_its_batch_and_the_writer_lives_on(
    store: SqliteStore, tmp_path: Path
) -> None:
    """An upstream's token count past 64 bits reached SQLite as OverflowError, which killed
    the writer task: every later row was lost without a word."""

    def to_batch(items: list[int]) -> WriteBatch:
        stamp = 2**70 if 7 in items else 1  # sqlite3 refuses an integer past 64 bits
        return WriteBatch(events=[RoutingEventRow(None, float(i), stamp, "budget") for i in items])

    writer: AuditWriter[int] = AuditWriter(store, to_batch, linger_s=0)
    with pytest.raises(AuditError, match="OverflowError"):  # bounded: a dead writer hung here
        await asyncio.wait_for(writer.submit_and_wait(7), 5)
    assert writer.failed == 1
    await asyncio.wait_for(writer.submit_and_wait(9), 5)
    await writer.aclose()
    assert _count(tmp_path / "a.db") == 1
