"""The intent journal: a strict start's durable record at the cost of one write(2).

Why: strict durability promises that no provider is called for a request the
log does not know. Committing the request's `pending` row before the call kept
that promise at the price of a SQLite commit of its own on the request's path
(about 60 µs in a busy server, docs/performance.md, `## Server`). One line
appended to this journal keeps it instead, and the row then travels in the
batched commits like any other. Both survive a killed process and neither a
power cut: with `synchronous=NORMAL` a WAL commit is not synced either.

One file per process beside the database (`<db>.intents-<pid>`), emptied once
every row it holds is committed and removed on close. When the store opens, the
journals of processes no longer running (and one with this process's pid that
this process does not have open, left by an earlier process) are replayed into
`audit_pending`, skipping requests whose final row landed, so that recovery
marks them `interrupted` as it would any `pending` row. A failed batch keeps
the journal whole until that replay.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from laneway.audit.store import AuditError

SUFFIX = ".intents-"
#: journals this process has open: never anyone's leftovers, whatever their pid says
_OPEN: set[Path] = set()


class IntentJournal:
    """This process's journal of requests started and not yet committed."""

    def __init__(self, db_path: Path, pid: int | None = None) -> None:
        self.path = db_path.with_name(f"{db_path.name}{SUFFIX}{pid or os.getpid()}")
        self._fd: int | None = None
        self._dirty = False  # lines appended since the last clear
        self._kept = False  # a batch failed: what the journal holds waits for the replay

    def append(self, row: dict[str, Any]) -> None:
        """Make `row` durable now; raises `AuditError` when the file cannot be written."""
        line = orjson.dumps(row) + b"\n"
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                _OPEN.add(self.path.absolute())
            os.write(self._fd, line)  # a regular file takes the whole line or fails
        except OSError as exc:
            raise AuditError(f"audit intent journal {self.path}: {exc}") from exc
        self._dirty = True

    def clear(self) -> None:
        """Every line so far is committed: start the file again from empty."""
        if self._dirty and not self._kept and self._fd is not None:
            os.ftruncate(self._fd, 0)  # O_APPEND: the next line goes to the new end
            self._dirty = False

    def keep(self) -> None:
        """A batch failed: its rows are only here now; never empty the file again."""
        self._kept = True

    def close(self) -> None:
        """Close the file; remove it when every line it held is committed."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        _OPEN.discard(self.path.absolute())
        if not self._kept and not self._dirty:
            self.path.unlink(missing_ok=True)


def leftovers(
    db_path: Path, is_alive: Callable[[int], bool]
) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Journals whose process is gone, each with its rows (a line cut short is skipped)."""
    own = os.getpid()
    found: list[tuple[Path, list[dict[str, Any]]]] = []
    for name in sorted(glob.glob(glob.escape(str(db_path)) + SUFFIX + "*")):
        path = Path(name)
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or (int(pid) != own and is_alive(int(pid))):
            continue  # another worker's, still serving
        if path.absolute() in _OPEN:
            continue  # this process's own, in use
        rows = []
        for line in path.read_bytes().splitlines():
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # the process died in the middle of this line
            if isinstance(row, dict) and isinstance(row.get("request_id"), str):
                rows.append(row)
        found.append((path, rows))
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
