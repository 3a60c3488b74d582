"""Fields that must never be persisted stay out of the audit database files.

Recognisable fake keys are placed only where a secret or private text could
travel with an event (context metadata, description, redact list, content and
output with `store_content` off, the routing model's reply, a nested `extra`
value, the raw user id). The database files, WAL included, must not contain them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from laneway.audit.sink import StoreSink
from laneway.audit.sqlite import SqliteStore
from laneway.clock import FakeClock
from laneway.events import RequestFinished, RequestStarted, RoutingCall
from laneway.types import ModelRef, TaskContext

FAKE_KEYS = {
    "metadata": "sk-laneway-FAKE-metadata-0001",
    "description": "sk-ant-FAKE-description-0002",
    "redact": "AIzaFAKE-redact-0003",
    "content": "Bearer sk-FAKE-content-0004",
    "output": "sk-FAKE-output-0005",
    "reply": "sk-FAKE-routing-reply-0006",
    "extra": "sk-FAKE-extra-0007",
    "user": "sk-FAKE-user-id-0008",
}


def _database_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


async def test_fake_keys_in_never_persisted_fields_do_not_reach_the_database(
    tmp_path: Path,
) -> None:
    ctx = TaskContext(
        lane="coding",
        user_id=FAKE_KEYS["user"],
        description=FAKE_KEYS["description"],
        metadata={"authorization": FAKE_KEYS["metadata"]},
        redact=(FAKE_KEYS["redact"],),
    )
    sink = StoreSink(SqliteStore(tmp_path / "audit.db"), clock=FakeClock())
    await sink.start(RequestStarted("r1", 1.0, ctx, "a" * 64, content=FAKE_KEYS["content"]))
    sink.record(
        RoutingCall("r1", 1.1, ModelRef("a", "router"), "used", "picked", reply=FAKE_KEYS["reply"])
    )
    sink.record(
        RequestFinished(
            "r1",
            2.0,
            ctx,
            "success",
            1000.0,
            output=FAKE_KEYS["output"],
            extra={"headers": {"x-api-key": FAKE_KEYS["extra"]}, "note": "kept"},
        )
    )
    # Written but not yet checkpointed: the WAL file holds the rows too, so scan both.
    await sink.writer.flush()
    on_disk = _database_bytes(tmp_path)
    await sink.aclose()
    on_disk += _database_bytes(tmp_path)

    assert b"kept" in on_disk  # the scan does see row contents
    for field, key in FAKE_KEYS.items():
        assert key.encode() not in on_disk, f"{field} leaked into the audit database"
    with sqlite3.connect(tmp_path / "audit.db") as conn:
        dumped = "\n".join(conn.iterdump())
    assert not [field for field, key in FAKE_KEYS.items() if key in dumped]
