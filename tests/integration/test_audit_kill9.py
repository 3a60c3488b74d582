"""A process killed with SIGKILL leaves requests in flight; the next start marks them `interrupted`.

Uses a real child process (audit_kill9_child.py) and a real SQLite file in WAL mode.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from laneway.audit.intents import IntentJournal, read_rows
from laneway.audit.sink import StoreSink
from laneway.audit.sqlite import SqliteStore
from laneway.clock import SystemClock

CHILD = Path(__file__).with_name("audit_kill9_child.py")


def _wait_for_ready(proc: subprocess.Popen[str], timeout_s: float = 60.0) -> None:
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline() if readable else ""
    assert line.strip() == "ready", f"child did not get ready (exit code {proc.poll()})"


async def _open_and_close(sink: StoreSink) -> None:
    await sink.open()
    await sink.aclose()


def _statuses(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        finished = conn.execute("SELECT request_id, status FROM audit_requests").fetchall()
        in_flight = conn.execute("SELECT request_id, 'pending' FROM audit_pending").fetchall()
    return dict(finished + in_flight)


def test_rows_pending_at_kill_9_are_interrupted_on_next_start(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(db), "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        _wait_for_ready(proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    before = _statuses(db)
    assert before["finished-before-kill"] == "success"
    # in flight: each in the child's intent journal, and a `pending` row once its batch
    # committed (20 ms after the start, if the kill came later than that)
    journal = IntentJournal(db, proc.pid).path
    journaled = {row[0] for row in read_rows(journal)}
    assert {k for k, v in before.items() if v == "pending"} <= journaled
    assert journaled == {"in-flight-0", "in-flight-1", "in-flight-2"}

    sink = StoreSink(SqliteStore(db), clock=SystemClock())
    asyncio.run(_open_and_close(sink))
    assert sink.interrupted == 3
    after = _statuses(db)
    assert after == {
        **{f"in-flight-{i}": "interrupted" for i in range(3)},
        "finished-before-kill": "success",
    }
    assert not journal.exists()
