"""The SQLite audit store: one file, WAL mode, one connection.

WAL with `synchronous=NORMAL` makes a committed batch survive a killed process
(not a power cut) at the cost of one write, no fsync, per commit. The blocking
sqlite3 calls run in a worker thread (`asyncio.to_thread`) so a slow checkpoint
never stalls the event loop; an asyncio lock keeps the one connection to one
operation at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from laneway.audit import _sql
from laneway.audit.migrations import MIGRATIONS_TABLE, load_migrations
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.store import AuditError, Interrupted, RequestFilter, WriteBatch
from laneway.clock import Clock, SystemClock

T = TypeVar("T")


class SqliteStore:
    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self.user_salt = ""
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        await self._run(self._open_sync)

    async def write(self, batch: WriteBatch) -> None:
        await self._run(self._write_sync, batch)

    async def mark_interrupted(self, rule: Interrupted, *, now_ts: float) -> int:
        return await self._run(self._mark_sync, rule, now_ts)

    async def prune(self, before_ts: float) -> int:
        return await self._run(self._prune_sync, before_ts)

    async def select_requests(self, query: RequestFilter) -> list[RequestRow]:
        sql, params = _sql.select_requests(query)
        rows = await self._run(self._select_sync, sql, params)
        return [RequestRow(*row) for row in rows]

    async def select_events(
        self, *, request_ids: Sequence[str] | None = None, since_ts: float | None = None
    ) -> list[RoutingEventRow]:
        sql, params = _sql.select_events(request_ids, since_ts)
        rows = await self._run(self._select_sync, sql, params)
        return [RoutingEventRow(*row) for row in rows]

    async def aclose(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await asyncio.to_thread(conn.close)

    # -- the blocking part, always under self._lock in a worker thread ---------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, *args)
            except sqlite3.Error as exc:
                raise AuditError(f"audit store {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AuditError(f"audit store {self.path} is not open (call open() first)")
        return self._conn

    def _open_sync(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        with _transaction(conn):
            conn.execute(MIGRATIONS_TABLE)
            applied = {row[0] for row in conn.execute(_sql.SELECT_VERSIONS)}
            for migration in load_migrations("sqlite"):
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    conn.execute(statement)
                conn.execute(
                    _sql.INSERT_VERSION, (migration.version, migration.name, self._clock.wall())
                )
            conn.execute(_sql.INSERT_SALT, (_sql.new_salt(),))
            self.user_salt = conn.execute(_sql.SELECT_SALT).fetchone()[0]

    def _write_sync(self, batch: WriteBatch) -> None:
        conn = self._connection()
        with _transaction(conn):
            if batch.pending:
                conn.executemany(_sql.INSERT_PENDING, map(_sql.request_params, batch.pending))
            if batch.finals:
                conn.executemany(_sql.UPSERT_FINAL, map(_sql.request_params, batch.finals))
            if batch.events:
                conn.executemany(_sql.INSERT_EVENT, map(_sql.event_params, batch.events))

    def _mark_sync(self, rule: Interrupted, now_ts: float) -> int:
        conn = self._connection()
        with _transaction(conn):
            gone = _sql.abandoned(conn.execute(_sql.SELECT_PENDING).fetchall(), rule)
            conn.executemany(_sql.MARK_INTERRUPTED, [(now_ts, rid) for rid in gone])
        return len(gone)

    def _prune_sync(self, before_ts: float) -> int:
        conn = self._connection()
        with _transaction(conn):
            conn.execute(_sql.PRUNE_EVENTS, (before_ts,))
            return conn.execute(_sql.PRUNE_REQUESTS, (before_ts,)).rowcount

    def _select_sync(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._connection().execute(sql, params).fetchall()


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
