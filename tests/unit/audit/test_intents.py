"""Strict durability on SQLite through the intent journal: one line before the provider call,
the row with the batched ones, and recovery from the journal of a process that died."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from test_sink import finished, make_sink, rows_of, started

from laneway.audit.intents import IntentJournal, leftovers, pid_alive, read_rows
from laneway.audit.records import RecordPolicy, pending_values
from laneway.errors import AuditError


def journal_ids(db: Path, pid: int | None = None) -> list[str]:
    path = IntentJournal(db, pid).path
    if not path.exists():
        return []
    return [row[0] for row in read_rows(path)]


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(child.stdout)
    assert not pid_alive(pid)
    return pid


async def reopen(db: Path) -> None:
    """What the next process to open the log does first."""
    sink = make_sink(db)
    await sink.open()
    await sink.aclose()


async def test_a_strict_start_is_in_the_journal_before_it_returns_and_then_in_the_batch(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("r1"))

    assert journal_ids(db) == ["r1"]  # durable: one line, no commit of its own
    assert rows_of(db) == []
    await sink.flush()
    assert rows_of(db) == [("r1", "pending")]
    assert journal_ids(db) == []  # every line it held is committed: emptied

    sink.record(finished("r1"))
    await sink.aclose()
    assert rows_of(db) == [("r1", "success")]
    assert not IntentJournal(db).path.exists()  # closed with nothing left: removed


async def test_a_request_started_and_finished_in_one_batch_writes_no_pending_row(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("r1"))
    sink.record(finished("r1"))
    await sink.flush()
    assert rows_of(db) == [("r1", "success")]
    assert sink.writer.batches == 1
    assert journal_ids(db) == []
    await sink.aclose()


async def test_the_journal_of_a_dead_process_is_filed_as_interrupted_on_open(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("done"))
    sink.record(finished("done"))
    await sink.aclose()
    pid = dead_pid()
    gone = IntentJournal(db, pid)
    policy = RecordPolicy(pid=pid)
    gone.append(pending_values(started("in-flight"), policy))
    gone.append(pending_values(started("done"), policy))  # its final row landed: not filed again
    gone.close()  # a dead process's file: nobody here has it open
    data = gone.path.read_bytes()
    with gone.path.open("r+b") as torn:  # the process died in the middle of its next line
        torn.seek(data.index(b"\0"))
        torn.write(b'["cut-sh')

    await reopen(db)

    assert sorted(rows_of(db)) == [("done", "success"), ("in-flight", "interrupted")]
    assert not gone.path.exists()


async def test_the_journal_of_a_live_worker_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    other = IntentJournal(db, os.getppid())  # a process that is running
    other.append(pending_values(started("theirs"), RecordPolicy(pid=os.getppid())))
    other.close()  # theirs, not open in this process
    assert leftovers(db, pid_alive) == []
    await reopen(db)
    assert rows_of(db) == []
    assert other.path.exists()


async def test_a_failed_batch_keeps_the_journal_for_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("r1"))

    async def broken(batch: object) -> None:
        raise AuditError("disk I/O error")

    monkeypatch.setattr(sink.store, "write", broken)
    await sink.flush()  # the batch with r1's row fails
    monkeypatch.undo()
    await sink.start(started("r2"))
    await sink.flush()  # this one lands, but r1 is still only in the journal
    assert journal_ids(db) == ["r1", "r2"]
    await sink.aclose()
    assert IntentJournal(db).path.exists()

    await reopen(db)
    assert sorted(rows_of(db)) == [("r1", "interrupted"), ("r2", "interrupted")]


async def test_a_journal_that_cannot_be_written_refuses_the_request(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.open()
    IntentJournal(db).path.mkdir()  # something in the way of the file

    with pytest.raises(AuditError, match="intent journal"):
        await sink.start(started("r1"))

    await sink.aclose()
    assert rows_of(db) == []


async def test_a_reader_in_the_same_process_leaves_the_live_journal_alone(tmp_path: Path) -> None:
    """A library user reading the log beside a running gateway must not take its journal."""
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("r1"))

    await reopen(db)  # another store on the same file, in this process

    assert journal_ids(db) == ["r1"]
    assert rows_of(db) == []  # not replayed as somebody's leftover
    sink.record(finished("r1"))
    await sink.aclose()
    assert rows_of(db) == [("r1", "success")]
    assert not IntentJournal(db).path.exists()


async def test_lines_of_committed_requests_past_the_start_are_not_read(tmp_path: Path) -> None:
    """Emptying the journal marks its start; the next line overwrites the old ones' head."""
    db = tmp_path / "a.db"
    sink = make_sink(db)
    await sink.start(started("first-request-with-a-long-id"))
    await sink.start(started("r2"))
    await sink.flush()  # both committed: the journal is emptied
    assert journal_ids(db) == []
    await sink.start(started("r3"))
    assert journal_ids(db) == ["r3"]  # not r2, whose line still lies further on
    await sink.aclose()


def test_the_journal_grows_when_its_space_runs_out(tmp_path: Path) -> None:
    journal = IntentJournal(tmp_path / "a.db", size=512)
    ids = [f"request-{i:04d}" for i in range(40)]  # about 6 KB of lines
    for request_id in ids:
        journal.append(pending_values(started(request_id), RecordPolicy()))
    assert [row[0] for row in read_rows(journal.path)] == ids
    journal.clear()
    assert read_rows(journal.path) == []
    journal.close()
    assert not journal.path.exists()


def test_a_journal_line_by_column_name_is_read_too(tmp_path: Path) -> None:
    """The journal's first format wrote each row as an object; a crash may have left one."""
    path = IntentJournal(tmp_path / "a.db", pid=1).path
    path.write_bytes(orjson.dumps({"request_id": "old", "ts": 1.7e9, "lane": "coding"}) + b"\n")
    (row,) = read_rows(path)
    assert (row[0], row[1], row[2]) == ("old", 1.7e9, "coding")


def test_without_posix_fallocate_the_space_is_written_with_zeros(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """macOS has no `posix_fallocate`: the journal still reserves its blocks before use."""
    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    journal = IntentJournal(tmp_path / "a.db", size=1024)
    ids = [f"request-{i:04d}" for i in range(10)]  # 2-3 KB of lines: it grows
    for request_id in ids:
        journal.append(pending_values(started(request_id), RecordPolicy()))
    stat = journal.path.stat()
    assert stat.st_size in (2048, 4096)
    assert stat.st_blocks * 512 >= stat.st_size  # allocated, not a sparse hole
    assert [row[0] for row in read_rows(journal.path)] == ids
    journal.close()
