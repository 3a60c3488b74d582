"""The intent journal: a strict start's durable record at the cost of a memory copy.

Why: strict durability promises that no provider is called for a request the
log does not know. Committing the request's `pending` row before the call kept
that promise at the price of a SQLite commit of its own on the request's path
(about 60 µs in a busy server, docs/performance.md, `## Server`). One line in
this journal keeps it instead, and the row then travels in the batched commits
like any other. Both survive a killed process and neither a power cut: with
`synchronous=NORMAL` a WAL commit is not synced either.

The file is mapped into memory (`MAP_SHARED`), so a line is in the page cache,
where a killed process cannot take it back, as soon as it is copied: no system
call per request (a `write(2)` cost 3-4 µs in a busy server, and emptying the
file with `ftruncate(2)` 38 µs). Its space is allocated up front
(`posix_fallocate`), so a full disk refuses the request instead of killing the
process with SIGBUS. Each line is followed by a NUL byte, where the next line
begins; emptying the journal writes a NUL at its start. A reader takes the
lines before the first NUL: whatever lies beyond is committed already.

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
import mmap
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from laneway.audit.records import PENDING_COLUMNS
from laneway.errors import AuditError

SUFFIX = ".intents-"
#: the file's first size: about 800 lines, a few batches' worth at thousands of requests
#: per second; it doubles when a line would not fit
JOURNAL_BYTES = 256 * 1024
_END = b"\0"
#: journals this process has open: never anyone's leftovers, whatever their pid says
_OPEN: set[Path] = set()


class IntentJournal:
    """This process's journal of requests started and not yet committed."""

    def __init__(self, db_path: Path, pid: int | None = None, *, size: int = JOURNAL_BYTES) -> None:
        self.path = db_path.with_name(f"{db_path.name}{SUFFIX}{pid or os.getpid()}")
        self._size = size
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._end = 0  # where the next line goes: the NUL that ends the lines so far
        self._kept = False  # a batch failed: what the journal holds waits for the replay

    def append(self, values: Sequence[Any]) -> None:
        """Make a pending row (its values in `PENDING_COLUMNS` order) durable now; raises
        `AuditError` when the file cannot be written."""
        line = orjson.dumps(values) + b"\n\0"
        start = self._end
        end = start + len(line)
        try:
            if self._map is None:
                self._open()
            if end > self._size:
                self._grow(end)
        except OSError as exc:
            raise AuditError(f"audit intent journal {self.path}: {exc}") from exc
        assert self._map is not None
        self._map[start:end] = line
        self._end = end - 1  # the next line overwrites this one's NUL

    def _open(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _allocate(fd, 0, self._size)
            self._map = mmap.mmap(fd, self._size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _OPEN.add(self.path.absolute())

    def _grow(self, needed: int) -> None:
        assert self._fd is not None
        assert self._map is not None
        size = self._size
        while size < needed:
            size *= 2
        _allocate(self._fd, self._size, size)
        self._map.resize(size)
        self._size = size

    def clear(self) -> None:
        """Every line so far is committed: the next one goes at the start."""
        if self._end and not self._kept and self._map is not None:
            self._map[0:1] = _END
            self._end = 0

    def keep(self) -> None:
        """A batch failed: its rows are only here now; never empty the file again."""
        self._kept = True

    def close(self) -> None:
        """Close the file; remove it when every line it held is committed."""
        if self._map is None or self._fd is None:
            return
        self._map.close()
        os.close(self._fd)
        self._map = self._fd = None
        _OPEN.discard(self.path.absolute())
        if not self._kept and not self._end:
            self.path.unlink(missing_ok=True)


def _allocate(fd: int, start: int, end: int) -> None:
    """Reserve the file's blocks up to `end`: a write into the mapping then never needs
    a block the disk no longer has (SIGBUS). Zeros where `posix_fallocate` is missing
    (macOS)."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, start, end - start)
        return
    zeros = bytes(64 * 1024)
    for offset in range(start, end, len(zeros)):
        os.pwrite(fd, zeros[: end - offset], offset)


def read_rows(path: Path) -> list[list[Any]]:
    """The pending rows a journal holds, as values in `PENDING_COLUMNS` order.

    A line cut short (the process died writing it) is skipped; so is anything
    after the first NUL. A line that is an object by column name (the journal's
    first format, which a process may have left behind) is read too.
    """
    rows: list[list[Any]] = []
    for line in path.read_bytes().split(_END, 1)[0].splitlines():
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(row, dict):
            row = [row.get(column) for column in PENDING_COLUMNS]
        if isinstance(row, list) and len(row) == len(PENDING_COLUMNS) and isinstance(row[0], str):
            rows.append(row)  # its first value is the request id
    return rows


def leftovers(db_path: Path, is_alive: Callable[[int], bool]) -> list[tuple[Path, list[list[Any]]]]:
    """Journals whose process is gone, each with its rows (`read_rows`)."""
    own = os.getpid()
    found: list[tuple[Path, list[list[Any]]]] = []
    for name in sorted(glob.glob(glob.escape(str(db_path)) + SUFFIX + "*")):
        path = Path(name)
        pid = path.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or (int(pid) != own and is_alive(int(pid))):
            continue  # another worker's, still serving
        if path.absolute() in _OPEN:
            continue  # this process's own, in use
        found.append((path, read_rows(path)))
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
