"""The SQLite audit store: one file, WAL mode, one writing connection.

WAL with `synchronous=NORMAL` makes a committed batch survive a killed process
(not a power cut) at the cost of one write, no fsync, per commit.

Where the work runs, by measurement (docs/performance.md, "Measurements behind the code"): a small
batch (at most `INLINE_MAX_ROWS` rows) is committed on the event loop itself.
Such a commit is short, while handing it to a worker thread cost more CPU and
let the thread take the GIL from the loop. Rows bind
only the columns their batch fills (`_sql.NonNullInserts`): binding None is
what a mostly-NULL audit row used to spend most of its insert on. What can take
long never runs on the loop: the connection's automatic checkpoint is off and
a checkpoint runs in a worker thread on its own connection every
`CHECKPOINT_ROWS` rows written (fsyncs take milliseconds), with a short second pass
under the writer's lock when the WAL has grown long, so that it restarts (see
`_checkpoint_twice`); the loop's attempts use
no busy timeout, so a lock held by another process (a second worker, `laneway
audit prune`) sends the batch to a worker thread that waits for it; large
batches, migrations, recovery, prune and reads run in a worker thread too. An
asyncio lock keeps the writing connection to one operation at a time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from laneway.audit import _sql, intents
from laneway.audit.migrations import MIGRATIONS_TABLE, load_migrations
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.store import Interrupted, RequestFilter, WriteBatch
from laneway.clock import Clock, SystemClock
from laneway.errors import AuditError

T = TypeVar("T")

#: bounds the inserts one commit runs on the loop
INLINE_MAX_ROWS = 512
#: rows, not commits: a checkpoint costs a fixed part plus a part per WAL frame, and
#: a strict start alone in flight commits one row; counting commits checkpointed every
#: 200 requests there, every 6,400 at 32 requests per commit
CHECKPOINT_ROWS = 6400
BUSY_TIMEOUT_MS = 5000
WAL_RESTART_FRAMES = 16384  # 64 MiB of 4 KiB pages: about three checkpoints' worth


class SqliteStore:
    #: so that every commit of the writer's runs on the loop: a batch above
    #: INLINE_MAX_ROWS goes to a worker thread, whose `executemany` gives up and
    #: retakes the GIL for every row while the busy loop holds it (a row cost many
    #: times as much, and the writer never caught up again; docs/performance.md,
    #: "Measurements behind the code")
    max_batch_rows = INLINE_MAX_ROWS

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = path
        self._clock = clock or SystemClock()
        self.user_salt = ""
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._rows = 0  # written since the last checkpoint
        self._checkpoint: asyncio.Future[None] | None = None
        #: where a strict start records its request (intents.py); a file only once used
        self.journal: intents.IntentJournal | None = intents.IntentJournal(path)

    async def open(self) -> None:
        await self._run(self._open_sync)

    async def write(self, batch: WriteBatch) -> None:
        if len(batch) > INLINE_MAX_ROWS:
            await self._run(self._write_sync, batch)
        else:
            async with self._lock:
                try:
                    written = self._write_now(batch)
                except sqlite3.Error as exc:
                    raise AuditError(f"audit store {self.path}: {exc}") from exc
            if not written:  # locked by another connection: wait for it off the loop
                await self._run(self._write_sync, batch)
        self._rows += len(batch)
        if self._rows >= CHECKPOINT_ROWS and self._checkpoint is None:
            self._start_checkpoint()

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

    async def spend_by_client(self, since_ts: float) -> dict[str, float]:
        rows = await self._run(self._select_sync, _sql.SPEND_BY_CLIENT, [since_ts])
        return {str(key): float(usd) for key, usd in rows}

    async def aclose(self) -> None:
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await asyncio.to_thread(conn.close)

    # -- checkpoints: in a worker thread, on their own connection ----------------

    def _start_checkpoint(self) -> None:
        self._rows = 0
        self._checkpoint = asyncio.ensure_future(self._checkpoint_twice())
        self._checkpoint.add_done_callback(self._checkpoint_done)

    async def _checkpoint_twice(self) -> None:
        """Copy the WAL into the database; when the WAL is long, let the next write restart it.

        SQLite writes the WAL from its start again only after every frame in it
        was copied. A pass beside the writer never gets there under steady load
        (commits land while it copies and syncs), so the WAL used to grow without
        end (measured: 250 MB after 64k requests). Once it holds
        `WAL_RESTART_FRAMES`, a second pass copies what was committed meanwhile
        while holding the writer's lock: a few hundred frames and two syncs, a
        wait of milliseconds for the writer, every few checkpoints.
        """
        loop = asyncio.get_running_loop()
        frames = await loop.run_in_executor(None, self._checkpoint_sync)
        if frames >= WAL_RESTART_FRAMES:
            async with self._lock:
                await loop.run_in_executor(None, self._checkpoint_sync)

    def _checkpoint_done(self, future: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not future.cancelled() and future.exception() is not None:
            self._rows = CHECKPOINT_ROWS // 2  # try again soon; the WAL only grows meanwhile

    def _checkpoint_sync(self) -> int:
        """Copy the WAL into the database without waiting; the WAL's length in frames."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            frames: int = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        finally:
            conn.close()
        return frames

    # -- on the loop: a small batch, no waiting ----------------------------------

    def _write_now(self, batch: WriteBatch) -> bool:
        """Commit `batch` without waiting for a lock; False (nothing written) when locked."""
        conn = self._connection()
        try:
            self._write_sync(batch)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return False
        return True

    # -- the blocking part, under self._lock in a worker thread ------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            try:
                return await asyncio.to_thread(self._patiently, fn, *args)
            except sqlite3.Error as exc:
                raise AuditError(f"audit store {self.path}: {exc}") from exc

    def _patiently(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` waiting up to BUSY_TIMEOUT_MS for other connections' locks."""
        conn = self._conn
        if conn is not None:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            return fn(*args)
        finally:
            if self._conn is not None:
                self._conn.execute("PRAGMA busy_timeout=0")  # the loop never waits

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise AuditError(f"audit store {self.path} is not open (call open() first)")
        return self._conn

    def _open_sync(self) -> None:
        if self._conn is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the loop instead
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
            replayed = intents.leftovers(self.path, intents.pid_alive)
            for _, rows in replayed:  # recovery (`_mark_sync`) then files them
                conn.executemany(_sql.INSERT_PENDING, map(_sql.journaled_params, rows))
        for path, _ in replayed:
            path.unlink(missing_ok=True)

    def _write_sync(self, batch: WriteBatch) -> None:
        conn = self._connection()
        pending = batch.pending
        if len(batch) == 1 and pending:
            # one request's pending row (a start alone in its batch, or a strict start
            # committed alone without a journal): one statement is its own transaction,
            # without BEGIN and COMMIT as two more (docs/performance.md, `## Server`)
            sql, rows = _sql.PENDING_INSERTS.params(pending)
            conn.execute(sql, rows[0])
            return
        with _transaction(conn):
            if pending:
                conn.executemany(*_sql.PENDING_INSERTS.params(pending))
            if batch.orphans:
                conn.executemany(_sql.MOVE_PENDING, [(rid,) for rid in batch.orphans])
            if batch.finals:
                conn.executemany(*_sql.FINAL_UPSERTS.params(batch.finals))
            if batch.ended:
                conn.executemany(_sql.DELETE_PENDING, [(rid,) for rid in batch.ended])
            if batch.events:
                conn.executemany(*_sql.EVENT_INSERTS.params(batch.events))

    def _mark_sync(self, rule: Interrupted, now_ts: float) -> int:
        conn = self._connection()
        with _transaction(conn):
            conn.execute(_sql.DELETE_SHADOWED)
            gone = _sql.abandoned(conn.execute(_sql.SELECT_PENDING).fetchall(), rule)
            conn.executemany(_sql.INTERRUPT_PENDING, [(now_ts, rid) for rid in gone])
            conn.executemany(_sql.DELETE_PENDING, [(rid,) for rid in gone])
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
