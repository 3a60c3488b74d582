"""The PostgreSQL audit store (asyncpg, from the `laneway[postgres]` extra).

Same schema and migrations as SQLite. `?schema=name` in the URL puts the tables
in their own schema (created if missing), which is how tests and co-tenants keep
apart. Migrations take a transaction-scoped advisory lock so replicas starting
together apply each version once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from laneway.audit import _sql
from laneway.audit.migrations import MIGRATIONS_TABLE, load_migrations
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.store import Interrupted, RequestFilter, WriteBatch
from laneway.clock import Clock, SystemClock
from laneway.config.store_urls import redact_url
from laneway.errors import AuditError

if TYPE_CHECKING:
    from laneway.audit.intents import IntentJournal

_MIGRATION_LOCK = 0x6C616E65  # "lane": one advisory lock id for audit migrations
CONNECT_TIMEOUT_S = 10.0


def _q(sql: str) -> str:
    return _sql.to_numbered(sql)


class PostgresStore:
    max_batch_rows = 2048

    def __init__(self, url: str, *, schema: str | None = None, clock: Clock | None = None) -> None:
        self.url = url
        self.schema = schema
        self.user_salt = ""
        self._clock = clock or SystemClock()
        self._conn: Any = None
        self._lock: Any = None
        self._opened = False
        #: no intent journal: a strict start commits its pending row (the journal is a
        #: local file, and a PostgreSQL log is usually shared by hosts)
        self.journal: IntentJournal | None = None

    async def open(self) -> None:
        if self._conn is not None:
            return
        import asyncio

        self._lock = asyncio.Lock()
        try:
            import asyncpg  # noqa: F401  (only to report a missing extra clearly)
        except ImportError as exc:
            raise AuditError(
                "the PostgreSQL audit store needs asyncpg: pip install 'laneway[postgres]'"
            ) from exc
        try:
            await self._connect()
            await self._migrate()
        except _driver_errors() as exc:
            raise AuditError(f"audit store {redact_url(self.url)}: {exc}") from exc
        self._opened = True

    async def _connect(self) -> None:
        import asyncpg

        name = "laneway-audit" + (f":{self.schema}" if self.schema else "")
        conn = await asyncpg.connect(
            self.url, timeout=CONNECT_TIMEOUT_S, server_settings={"application_name": name[:63]}
        )
        if self.schema is not None:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(f'SET search_path TO "{self.schema}"')
        self._conn = conn

    async def _migrate(self) -> None:
        conn = self._conn
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(MIGRATIONS_TABLE)
            applied = {row[0] for row in await conn.fetch(_sql.SELECT_VERSIONS)}
            for migration in load_migrations("postgres"):
                if migration.version in applied:
                    continue
                for statement in migration.statements():
                    await conn.execute(statement)
                await conn.execute(
                    _q(_sql.INSERT_VERSION), migration.version, migration.name, self._clock.wall()
                )
            await conn.execute(_q(_sql.INSERT_SALT), _sql.new_salt())
            self.user_salt = await conn.fetchval(_sql.SELECT_SALT)

    async def write(self, batch: WriteBatch) -> None:
        async def run(conn: Any) -> None:
            async with conn.transaction():
                if batch.pending:
                    await conn.executemany(_q(_sql.INSERT_PENDING), batch.pending)
                if batch.orphans:
                    await conn.executemany(_q(_sql.MOVE_PENDING), [(rid,) for rid in batch.orphans])
                if batch.finals:
                    await conn.executemany(_q(_sql.UPSERT_FINAL), batch.finals)
                if batch.ended:
                    await conn.executemany(_q(_sql.DELETE_PENDING), [(rid,) for rid in batch.ended])
                if batch.events:
                    await conn.executemany(
                        _q(_sql.INSERT_EVENT), [_sql.event_params(r) for r in batch.events]
                    )

        await self._run(run)

    async def mark_interrupted(self, rule: Interrupted, *, now_ts: float) -> int:
        async def run(conn: Any) -> int:
            async with conn.transaction():
                await conn.execute(_sql.DELETE_SHADOWED)
                rows = [tuple(r) for r in await conn.fetch(_sql.SELECT_PENDING)]
                gone = _sql.abandoned(rows, rule)
                if gone:
                    await conn.executemany(
                        _q(_sql.INTERRUPT_PENDING), [(now_ts, rid) for rid in gone]
                    )
                    await conn.executemany(_q(_sql.DELETE_PENDING), [(rid,) for rid in gone])
                return len(gone)

        result: int = await self._run(run)
        return result

    async def prune(self, before_ts: float) -> int:
        async def run(conn: Any) -> int:
            async with conn.transaction():
                await conn.execute(_q(_sql.PRUNE_EVENTS), before_ts)
                status: str = await conn.execute(_q(_sql.PRUNE_REQUESTS), before_ts)
                return int(status.rsplit(" ", 1)[-1])  # "DELETE 12"

        result: int = await self._run(run)
        return result

    async def select_requests(self, query: RequestFilter) -> list[RequestRow]:
        sql, params = _sql.select_requests(query)
        rows = await self._fetch(sql, params)
        return [RequestRow(*row) for row in rows]

    async def select_events(
        self, *, request_ids: Sequence[str] | None = None, since_ts: float | None = None
    ) -> list[RoutingEventRow]:
        sql, params = _sql.select_events(request_ids, since_ts)
        rows = await self._fetch(sql, params)
        return [RoutingEventRow(*row) for row in rows]

    async def aclose(self) -> None:
        self._opened = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def spend_by_client(self, since_ts: float) -> dict[str, float]:
        rows = await self._fetch(_sql.SPEND_BY_CLIENT, [since_ts])
        return {str(key): float(usd) for key, usd in rows}

    async def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        async def run(conn: Any) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await conn.fetch(_q(sql), *params)]

        result: list[tuple[Any, ...]] = await self._run(run)
        return result

    async def _run(self, fn: Any) -> Any:
        """Run `fn(conn)` under the lock; a lost connection is dropped and made again next time."""

        if not self._opened:
            raise AuditError(f"audit store {redact_url(self.url)} is not open (call open() first)")
        async with self._lock:
            try:
                if self._conn is None:
                    await self._connect()
                return await fn(self._conn)
            except _driver_errors() as exc:
                if self._conn is not None and (self._conn.is_closed() or _is_lost(exc)):
                    self._conn.terminate()
                    self._conn = None
                raise AuditError(f"audit store {redact_url(self.url)}: {exc}") from exc


def _is_lost(exc: BaseException) -> bool:
    """Errors after which the connection is useless: server restart, shutdown, network."""
    import asyncpg

    lost = (
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.AdminShutdownError,
        asyncpg.CrashShutdownError,
        asyncpg.InternalClientError,  # a shutdown notice that raced an operation
    )
    return isinstance(exc, lost)


def _driver_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
