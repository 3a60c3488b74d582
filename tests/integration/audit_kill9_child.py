"""Child process for test_audit_kill9: writes audit rows, says "ready", then waits to be killed.

Usage: python audit_kill9_child.py DB_PATH PENDING_COUNT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from laneway.audit.sink import StoreSink
from laneway.audit.sqlite import SqliteStore
from laneway.clock import SystemClock
from laneway.events import RequestFinished, RequestStarted
from laneway.types import TaskContext


async def main(path: Path, pending: int) -> None:
    clock = SystemClock()
    sink = StoreSink(SqliteStore(path), clock=clock, durability="strict")
    ctx = TaskContext(lane="coding")
    await sink.start(RequestStarted("finished-before-kill", clock.wall(), ctx, "0" * 64))
    sink.record(RequestFinished("finished-before-kill", clock.wall(), ctx, "success", 5.0))
    await sink.writer.flush()
    for index in range(pending):
        await sink.start(RequestStarted(f"in-flight-{index}", clock.wall(), ctx, "0" * 64))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # "calling the provider" until SIGKILL arrives


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
