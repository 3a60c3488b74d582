"""The SQLite store's write path: NULL columns left out of the INSERT, WAL kept bounded."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from audit_batches import row_batch
from laneway.audit import _sql
from laneway.audit import sqlite as sqlite_store
from laneway.audit.migrations import MIGRATIONS_TABLE, load_migrations
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import Interrupted, RequestFilter
from laneway.clock import FakeClock

T0 = 1_700_000_000.0


def pending(rid: str, **kw: object) -> RequestRow:
    return RequestRow(rid, T0, "pending", "coding", host="h1", pid=10, **kw)  # type: ignore[arg-type]


async def test_rows_of_mixed_shapes_round_trip_unchanged(tmp_path: Path) -> None:
    """Columns NULL in every row are left out; a column filled in one row is bound in all."""
    in_flight = [
        pending("a"),
        pending("b", job_id="j1", phase="impl"),
        pending("c", prompt_version="", content=""),  # falsy values are not NULL
    ]
    finished = [
        RequestRow("d", T0 + 1, "success", "coding"),
        RequestRow("e", T0 + 2, "failed", "coding", tokens_in=0, cost_usd=0.0, output=""),
    ]
    store = SqliteStore(tmp_path / "a.db", clock=FakeClock())
    await store.open()
    await store.write(row_batch(pending=in_flight, finals=finished))
    assert await store.select_requests(RequestFilter()) == in_flight + finished
    await store.aclose()


def test_the_insert_names_only_columns_the_batch_fills() -> None:
    sql, params = _sql.EVENT_INSERTS.params(
        [RoutingEventRow("r1", T0, 1, "skip", "m/x"), RoutingEventRow(None, T0, 2, "breaker")]
    )
    assert sql == (
        "INSERT INTO audit_routing_events (request_id, ts, seq, kind, model) VALUES (?, ?, ?, ?, ?)"
    )
    assert params == [("r1", T0, 1, "skip", "m/x"), (None, T0, 2, "breaker", None)]


async def test_a_final_row_clears_what_recovery_set_even_in_columns_it_leaves_out(
    tmp_path: Path,
) -> None:
    """`excluded.error_code` of a left-out column is NULL: the final row's NULL wins."""
    store = SqliteStore(tmp_path / "a.db", clock=FakeClock())
    await store.open()
    await store.write(row_batch(pending=[pending("r1")]))
    rule = Interrupted(host="h1", own_pid=10, is_alive=lambda pid: True, stale_before_ts=T0)
    assert await store.mark_interrupted(rule, now_ts=T0 + 1) == 1
    final = RequestRow("r1", T0, "success", "coding", duration_ms=5.0, finished_ts=T0 + 2)
    await store.write(row_batch(finals=[final]))
    [row] = await store.select_requests(RequestFilter())
    assert (row.status, row.error_code, row.finished_ts, row.host) == (
        "success",
        None,
        T0 + 2,
        "h1",
    )
    await store.aclose()


def _wal_frames(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        frames: int = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    return frames


async def test_the_wal_restarts_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint beside a steady writer never empties the WAL; the locked pass does.

    Without it the WAL here ends with ~1700 frames (every commit since the start).
    """
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_ROWS", 100)  # every 5 batches
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_FRAMES", 1)
    store = SqliteStore(tmp_path / "a.db", clock=FakeClock())
    await store.open()
    for i in range(200):
        await store.write(row_batch(pending=[pending(f"r{i}-{j}") for j in range(20)]))
        await asyncio.sleep(0)  # the checkpoint task gets its turns while commits keep landing
    if store._checkpoint is not None:
        await store._checkpoint
    await store.write(row_batch(pending=[pending("last")]))
    assert _wal_frames(tmp_path / "a.db") < 200
    assert len(await store.select_requests(RequestFilter())) == 4001
    await store.aclose()


async def test_checkpoints_follow_rows_written_not_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One-row commits (a strict start alone in flight) must not checkpoint every few
    requests: a checkpoint's fixed cost is a connection and two fsyncs."""
    monkeypatch.setattr(sqlite_store, "CHECKPOINT_ROWS", 50)
    store = SqliteStore(tmp_path / "a.db", clock=FakeClock())
    await store.open()
    for i in range(49):
        await store.write(row_batch(pending=[pending(f"r{i}")]))
    assert store._checkpoint is None
    await store.write(row_batch(pending=[pending("r49")]))
    assert store._checkpoint is not None
    await store._checkpoint
    await store.write(row_batch(pending=[pending(f"s{i}") for i in range(50)]))
    assert store._checkpoint is not None  # one batch of 50 rows is as many
    await store.aclose()


async def test_a_version_1_log_is_upgraded_and_its_old_rows_still_read(tmp_path: Path) -> None:
    """Logs from before schema version 2 kept the decision and attempts as routing events."""
    path = tmp_path / "v1.db"
    [v1] = [m for m in load_migrations("sqlite") if m.version == 1]
    with sqlite3.connect(path) as conn:
        conn.execute(MIGRATIONS_TABLE)
        for statement in v1.statements():
            conn.execute(statement)
        conn.execute(_sql.INSERT_VERSION, (1, v1.name, T0))
        conn.execute(
            "INSERT INTO audit_requests (request_id, ts, status, lane, decision_model) "
            "VALUES ('old', ?, 'success', 'coding', 'a/b')",
            (T0,),
        )
        conn.execute(
            "INSERT INTO audit_routing_events (request_id, ts, seq, kind, model, code, detail) "
            """VALUES ('old', ?, 0, 'decision', 'a/b', 'static', '{"fallback_chain": ["c/d"]}')""",
            (T0,),
        )
    conn.close()

    store = SqliteStore(path, clock=FakeClock())
    await store.open()
    chain = '["c/d"]'
    await store.write(
        row_batch(
            finals=[RequestRow("new", T0 + 1, "success", "coding", decision_fallback_chain=chain)]
        )
    )
    old, new = await store.select_requests(RequestFilter())
    [event] = await store.select_events(request_ids=["old"])
    await store.aclose()
    assert (old.request_id, old.decision_fallback_chain, old.fallback_chain()) == ("old", None, [])
    assert new.fallback_chain() == ["c/d"]
    assert (event.kind, event.detail_dict()["fallback_chain"]) == ("decision", ["c/d"])
    with sqlite3.connect(path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM audit_migrations ORDER BY 1")]
    conn.close()
    assert versions == [m.version for m in load_migrations("sqlite")]


async def test_a_version_2_log_moves_its_pending_rows_to_audit_pending(tmp_path: Path) -> None:
    """Schema version 3 keeps requests in flight in their own table; the upgrade moves
    the rows a dead process left `pending` there, where recovery finds them."""
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as conn:
        conn.execute(MIGRATIONS_TABLE)
        for migration in load_migrations("sqlite")[:2]:
            for statement in migration.statements():
                conn.execute(statement)
            conn.execute(_sql.INSERT_VERSION, (migration.version, migration.name, T0))
        conn.execute(
            "INSERT INTO audit_requests (request_id, ts, status, lane, job_id, host, pid, "
            "payload_sha256) VALUES ('left', ?, 'pending', 'coding', 'j1', 'h1', 11, 'abc')",
            (T0,),
        )
        conn.execute(
            "INSERT INTO audit_requests (request_id, ts, status, lane) "
            "VALUES ('done', ?, 'success', 'coding')",
            (T0 + 1,),
        )
    conn.close()

    store = SqliteStore(path, clock=FakeClock())
    await store.open()
    left, done = await store.select_requests(RequestFilter())
    assert (left.request_id, left.status, left.job_id, left.payload_sha256) == (
        "left",
        "pending",
        "j1",
        "abc",
    )
    assert (done.request_id, done.status) == ("done", "success")
    rule = Interrupted(host="h1", own_pid=99, is_alive=lambda pid: False, stale_before_ts=T0)
    assert await store.mark_interrupted(rule, now_ts=T0 + 2) == 1
    [left] = await store.select_requests(RequestFilter(request_id="left"))
    await store.aclose()
    assert (left.status, left.error_code, left.finished_ts, left.job_id) == (
        "interrupted",
        "interrupted",
        T0 + 2,
        "j1",
    )
    with sqlite3.connect(path) as conn:
        indexes = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        in_flight = conn.execute("SELECT count(*) FROM audit_pending").fetchone()[0]
    conn.close()
    assert "audit_requests_pending" not in indexes
    assert in_flight == 0


async def test_the_upstream_model_name_is_kept_beside_the_served_model(tmp_path: Path) -> None:
    """Schema 4: `model` is the configured model, `provider_model` the upstream's name."""
    from laneway.audit.records import RecordPolicy, final_row
    from laneway.events import RequestFinished
    from laneway.types import ModelRef, TaskContext

    event = RequestFinished(
        "r1",
        T0,
        TaskContext(lane="coding"),
        "success",
        12.0,
        model=ModelRef("zai", "glm-4.7"),
        provider_model="glm-4.7-20251222",
    )
    row = final_row(event, RecordPolicy(host="h", pid=1))
    store = SqliteStore(tmp_path / "a.db", clock=FakeClock())
    await store.open()
    await store.write(row_batch(pending=[], finals=[row]))
    (stored,) = await store.select_requests(RequestFilter())
    await store.aclose()
    assert (stored.model, stored.provider_model) == ("zai/glm-4.7", "glm-4.7-20251222")
    assert max(m.version for m in load_migrations("sqlite")) >= 4
