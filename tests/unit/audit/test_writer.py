"""The batched writer over a real SQLite store: bounded queue, flush, close."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from laneway.audit.records import RoutingEventRow
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import WriteBatch
from laneway.audit.writer import AuditWriter


def _to_batch(items: list[int]) -> WriteBatch:
    return WriteBatch(events=[RoutingEventRow(None, float(i), i, "budget") for i in items])


def _count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_routing_events").fetchone()[0])


async def _writer(path: Path, **kw: int) -> AuditWriter[int]:
    store = SqliteStore(path)
    await store.open()
    return AuditWriter(store, _to_batch, **kw)


async def test_full_queue_drops_and_counts_instead_of_growing(tmp_path: Path) -> None:
    writer = await _writer(tmp_path / "a.db", max_queue=3)
    accepted = [writer.submit(i) for i in range(5)]  # no await: the drain task has not run yet
    assert accepted == [True, True, True, False, False]
    await writer.aclose()
    assert (writer.dropped, writer.written, _count(tmp_path / "a.db")) == (2, 3, 3)


async def test_flush_waits_for_queued_items_and_batches_them(tmp_path: Path) -> None:
    writer = await _writer(tmp_path / "a.db", max_batch=4)
    for i in range(10):
        writer.submit(i)
    await writer.flush()
    assert _count(tmp_path / "a.db") == 10
    assert writer.batches == 3  # 4 + 4 + 2
    await writer.aclose()


async def test_submit_after_close_is_dropped(tmp_path: Path) -> None:
    writer = await _writer(tmp_path / "a.db")
    await writer.aclose()
    assert writer.submit(1) is False
    assert _count(tmp_path / "a.db") == 0
