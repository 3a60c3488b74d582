"""The audit sink over a real SQLite file: durability modes, lifecycle, privacy flags."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import sqlite3
from pathlib import Path
from typing import Literal

import pytest

from laneway.audit import sink as sink_module
from laneway.audit import sqlite as sqlite_store
from laneway.audit.records import RecordPolicy, RequestRow
from laneway.audit.sink import NullSink, StoreSink, build_audit_sink
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import RequestFilter, WriteBatch
from laneway.clock import FakeClock
from laneway.config.schema import AuditSpec
from laneway.errors import AuditError
from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    DecisionMade,
    RequestFinished,
    RequestStarted,
    RoutingCall,
)
from laneway.types import Attempt, Complexity, ModelRef, RoutingDecision, TaskContext, Usage

GLM = ModelRef("zai", "glm-4.7")
OPUS = ModelRef("anthropic", "claude-opus-4-5")
CTX = TaskContext(
    lane="coding", phase="impl", complexity=Complexity.HIGH, job_id="j1", user_id="alice"
)


_HOST_PID = (RecordPolicy().host, RecordPolicy().pid)


def started(rid: str = "r1", *, content: str | None = None) -> RequestStarted:
    return RequestStarted(rid, 1_700_000_000.0, CTX, payload_sha256="p" * 64, content=content)


def finished(rid: str = "r1", *, output: str | None = None) -> RequestFinished:
    decision = RoutingDecision(
        OPUS, (GLM,), "rule 0 matched", "static", estimated_cost_usd=0.004, rule_index=0
    )
    return RequestFinished(
        rid,
        1_700_000_001.0,
        CTX,
        "success",
        1000.0,
        decision=decision,
        model=GLM,
        attempts=(Attempt(OPUS, "rate_limit", 1, 30.0), Attempt(GLM, "success", 1, 900.0)),
        trace=("anthropic/claude-opus-4-5:rate_limit", "zai/glm-4.7:success"),
        usage=Usage(100, 50, 0.002),
        output_sha256="o" * 64,
        output=output,
    )


#: finished requests and those in flight, as `laneway logs` reads them
REQUESTS_AND_PENDING = (
    "SELECT request_id, status FROM audit_requests "
    "UNION ALL SELECT request_id, 'pending' FROM audit_pending"
)


def rows_of(path: Path, sql: str = REQUESTS_AND_PENDING) -> list[tuple[object, ...]]:
    """Read through a separate connection: what another process would see now."""
    with sqlite3.connect(path) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # no table yet


def make_sink(
    path: Path,
    durability: Literal["strict", "batched"] = "strict",
    *,
    store_content: bool = False,
    store_raw_user_id: bool = False,
    journal: bool = True,
) -> StoreSink:
    """`journal=False`: a strict start commits its pending row, as on PostgreSQL."""
    store = SqliteStore(path)
    if not journal:
        store.journal = None
    return StoreSink(
        store,
        clock=FakeClock(),
        durability=durability,
        store_content=store_content,
        store_raw_user_id=store_raw_user_id,
    )


async def test_strict_start_commits_pending_row_before_returning(tmp_path: Path) -> None:
    """Without an intent journal (PostgreSQL) a strict start commits its pending row."""
    sink = make_sink(tmp_path / "a.db", journal=False)
    await sink.start(started())
    assert rows_of(tmp_path / "a.db") == [("r1", "pending")]
    await sink.aclose()


async def test_a_strict_request_moves_from_audit_pending_to_audit_requests(
    tmp_path: Path,
) -> None:
    """In flight it is a row of the small `audit_pending` table (one b-tree page per
    commit); its final row takes the start's fields and the pending row goes."""
    path = tmp_path / "a.db"
    sink = make_sink(path, journal=False)
    await sink.start(started())
    assert rows_of(path, "SELECT request_id FROM audit_requests") == []
    assert rows_of(path, "SELECT request_id, payload_sha256 FROM audit_pending") == [
        ("r1", "p" * 64)
    ]
    sink.record(finished())
    await sink.aclose()
    assert rows_of(path, "SELECT request_id FROM audit_pending") == []
    [(ts, status, payload, host, pid)] = rows_of(
        path, "SELECT ts, status, payload_sha256, host, pid FROM audit_requests"
    )
    assert (ts, status, payload, host, pid) == (1_700_000_000.0, "success", "p" * 64, *_HOST_PID)
    assert sink.writer.batches == 2


async def test_a_final_whose_start_was_forgotten_keeps_the_pending_rows_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `_MAX_TRACKED` starts in flight the sink forgets them; the store moves the
    pending row before the final upsert, so nothing the start wrote is lost."""
    monkeypatch.setattr(sink_module, "_MAX_TRACKED", 1)
    path = tmp_path / "a.db"
    sink = make_sink(path)
    await sink.start(started("r1"))
    await sink.start(started("r2"))  # over the bound: r1's start is forgotten
    sink.record(finished("r1"))
    await sink.aclose()
    assert rows_of(path, "SELECT request_id, status, payload_sha256, ts FROM audit_requests") == [
        ("r1", "success", "p" * 64, 1_700_000_000.0)
    ]
    assert rows_of(path, "SELECT request_id FROM audit_pending") == [("r2",)]


async def test_batched_start_returns_before_the_write_and_aclose_flushes(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "a.db", "batched")
    await sink.start(started())
    assert rows_of(tmp_path / "a.db") == []
    sink.record(finished())
    await sink.aclose()
    assert rows_of(tmp_path / "a.db") == [("r1", "success")]


async def test_lifecycle_records_final_row_and_routing_events(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "a.db")
    await sink.start(started())
    decision = RoutingDecision(OPUS, (GLM,), "rule 0 matched", "static", rule_index=0)
    sink.record(DecisionMade("r1", 1_700_000_000.1, decision))
    sink.record(AttemptFinished("r1", 1_700_000_000.2, Attempt(OPUS, "rate_limit", 1, 30.0)))
    sink.record(BreakerChanged(1_700_000_000.3, OPUS, "closed", "open"))
    sink.record(
        RoutingCall(
            "r1",
            1_700_000_000.05,
            ModelRef("anthropic", "haiku"),
            "used",
            "ok",
            chosen=OPUS,
            cost_usd=0.0003,
            latency_ms=70.0,
        )
    )
    sink.record(finished())
    await sink.aclose()

    store = SqliteStore(tmp_path / "a.db")
    await store.open()
    [row] = await store.select_requests(RequestFilter())
    events = await store.select_events()
    await store.aclose()
    assert (row.status, row.model, row.provider) == ("success", "zai/glm-4.7", "zai")
    assert (row.decision_model, row.decision_method, row.decision_rule_index) == (
        "anthropic/claude-opus-4-5",
        "static",
        0,
    )
    assert (row.phase, row.complexity, row.job_id) == ("impl", "high", "j1")
    assert [a["code"] for a in row.attempt_list()] == ["rate_limit", "success"]
    assert (row.tokens_in, row.tokens_out, row.cost_usd, row.duration_ms) == (
        100,
        50,
        0.002,
        1000.0,
    )
    assert row.fallback_chain() == ["zai/glm-4.7"]
    assert row.decision_estimated_cost_usd == 0.004
    # the decision and the attempts are the request row's, not routing-event rows
    assert [(e.kind, e.code) for e in events] == [("routing_call", "used"), ("breaker", "open")]
    assert events[0].cost_usd == pytest.approx(0.0003)


async def test_concurrent_strict_starts_share_commits(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "a.db", journal=False)
    await sink.start(started("warm"))
    before = sink.writer.batches
    await asyncio.gather(*(sink.start(started(f"r{i}")) for i in range(32)))
    assert sink.writer.batches - before <= 2
    assert len(rows_of(tmp_path / "a.db")) == 33
    await sink.aclose()


async def test_user_id_is_hashed_with_the_store_salt_and_content_is_dropped(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "a.db")
    await sink.start(started(content="the prompt"))
    sink.record(finished(output="the answer"))
    await sink.aclose()
    [(user_hash, user_id, content, output)] = rows_of(
        tmp_path / "a.db", "SELECT user_hash, user_id, content, output FROM audit_requests"
    )
    [(salt,)] = rows_of(tmp_path / "a.db", "SELECT value FROM audit_meta WHERE key = 'user_salt'")
    assert user_hash == hashlib.sha256(f"{salt}alice".encode()).hexdigest()
    assert (user_id, content, output) == (None, None, None)


async def test_raw_user_id_and_content_when_configured(tmp_path: Path) -> None:
    sink = make_sink(tmp_path / "a.db", store_content=True, store_raw_user_id=True)
    await sink.start(started(content="the prompt"))
    sink.record(finished(output="the answer"))
    await sink.aclose()
    assert rows_of(tmp_path / "a.db", "SELECT user_id, content, output FROM audit_requests") == [
        ("alice", "the prompt", "the answer")
    ]


async def test_strict_start_raises_when_the_store_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    sink = make_sink(tmp_path / "dir.db")
    with pytest.raises(AuditError, match=r"dir\.db"):
        await sink.start(started())
    sink.record(finished())  # fire-and-forget writes are dropped, not raised
    await sink.aclose()


async def test_opening_marks_pending_rows_of_a_previous_process_interrupted(tmp_path: Path) -> None:
    first = make_sink(tmp_path / "a.db", journal=False)  # its start commits a pending row
    await first.start(started("left-pending"))
    await first.store.aclose()  # the process "dies": no final row, no writer shutdown

    second = make_sink(tmp_path / "a.db")
    await second.open()
    assert second.interrupted == 1
    assert rows_of(tmp_path / "a.db") == [("left-pending", "interrupted")]
    await second.aclose()


async def test_build_audit_sink_resolves_relative_sqlite_path_and_disabled(tmp_path: Path) -> None:
    assert isinstance(build_audit_sink(AuditSpec(enabled=False), clock=FakeClock()), NullSink)
    sink = build_audit_sink(
        AuditSpec(url="sqlite:///logs/audit.db"), clock=FakeClock(), source_dir=tmp_path
    )
    await sink.start(started())
    await sink.aclose()
    assert rows_of(tmp_path / "logs" / "audit.db") == [("r1", "pending")]


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_event_loop(
    tmp_path: Path,
) -> None:
    """Small batches commit on the loop without waiting; a held lock sends them to a thread."""
    sink = make_sink(tmp_path / "a.db", journal=False)
    await sink.start(started("before"))
    other = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process (a second worker, a prune) writing
    writing = asyncio.ensure_future(sink.start(started("while-locked")))
    for _ in range(5):
        await asyncio.sleep(0)  # the loop keeps running while the write waits
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    await sink.aclose()
    assert {rid for rid, _ in rows_of(tmp_path / "a.db")} == {"before", "while-locked"}


async def _requests_after(sink: StoreSink, path: Path) -> list[RequestRow]:
    await sink.start(started(content="the prompt"))
    sink.record(finished(output="the answer"))
    await sink.aclose()
    store = SqliteStore(path)
    await store.open()
    rows = await store.select_requests(RequestFilter())
    await store.aclose()
    return [dataclasses.replace(row, user_hash=None) for row in rows]  # salts differ per store


@pytest.mark.parametrize("store_content", [False, True])
async def test_a_request_within_one_batch_is_stored_as_with_two_commits(
    tmp_path: Path, store_content: bool
) -> None:
    """Batched start and finish in one batch become one insert; the row is the same."""
    strict = make_sink(tmp_path / "s.db", "strict", store_content=store_content)
    batched = make_sink(tmp_path / "b.db", "batched", store_content=store_content)
    two_commits = await _requests_after(strict, tmp_path / "s.db")
    one_batch = await _requests_after(batched, tmp_path / "b.db")
    assert batched.writer.batches == 1
    assert one_batch == two_commits
    [row] = one_batch
    assert (row.ts, row.payload_sha256, row.status) == (1_700_000_000.0, "p" * 64, "success")
    assert (row.content, row.output) == (
        ("the prompt", "the answer") if store_content else (None, None)
    )


async def test_a_request_id_started_twice_in_a_batch_keeps_the_first_start(
    tmp_path: Path,
) -> None:
    sink = make_sink(tmp_path / "a.db", "batched")
    sink.record(started())
    sink.record(dataclasses.replace(started(), ts=1_800_000_000.0, payload_sha256="q" * 64))
    sink.record(finished())
    await sink.aclose()
    assert rows_of(tmp_path / "a.db", "SELECT ts, payload_sha256, status FROM audit_requests") == [
        (1_700_000_000.0, "p" * 64, "success")
    ]


async def test_a_backlog_is_written_on_the_loop_in_small_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big batch would go to a worker thread, whose per-row GIL hand-offs against a
    busy loop made the writer fall behind for good; requests run between commits."""
    sink = make_sink(tmp_path / "a.db", "batched")
    store = sink.store
    assert isinstance(store, SqliteStore)
    sizes: list[int] = []
    ticks_at_write: list[int] = []
    write = store.write

    async def counted(batch: WriteBatch) -> None:
        sizes.append(len(batch))
        ticks_at_write.append(ticks)
        await write(batch)

    monkeypatch.setattr(store, "write", counted)

    def to_thread(*args: object, **kwargs: object) -> object:
        raise AssertionError("a batch of the writer's went to a worker thread")

    await sink.open()  # opening runs in a worker thread, before the check below
    monkeypatch.setattr(asyncio, "to_thread", to_thread)
    ticks = 0

    async def loop_alive() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(loop_alive())
    for i in range(1500):
        sink.record(finished(f"r{i}"))
    try:
        await asyncio.wait_for(sink.flush(), 30)
    finally:
        ticker.cancel()
    monkeypatch.undo()
    await sink.aclose()
    assert sum(sizes) == 1500
    assert max(sizes) <= sqlite_store.INLINE_MAX_ROWS
    assert len(sizes) >= 3
    assert all(b > a for a, b in itertools.pairwise(ticks_at_write))
    assert len(rows_of(tmp_path / "a.db")) == 1500
