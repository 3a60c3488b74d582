"""SQL text shared by both stores, written with `?` placeholders.

The PostgreSQL store renumbers them to `$1..$n` (`to_numbered`); everything else
is the SQL both backends accept (`ON CONFLICT ... DO UPDATE SET x = excluded.x`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from itertools import compress
from operator import attrgetter
from typing import Any

from laneway.audit.records import (
    EVENT_COLUMNS,
    FINAL_COLUMNS,
    PENDING_COLUMNS,
    PENDING_VALUES,
    REQUEST_COLUMNS,
    RequestRow,
    RoutingEventRow,
)
from laneway.audit.store import Interrupted, RequestFilter

_REQ_COLS = ", ".join(REQUEST_COLUMNS)
_REQ_MARKS = ", ".join("?" for _ in REQUEST_COLUMNS)
_PEND_COLS = ", ".join(PENDING_COLUMNS)
_EVT_COLS = ", ".join(EVENT_COLUMNS)
#: an `audit_pending` row read as an `audit_requests` row (readers see both tables)
_PENDING_AS_REQUEST = ", ".join(
    column if column in PENDING_COLUMNS else "'pending'" if column == "status" else "NULL"
    for column in REQUEST_COLUMNS
)

_KEEP_FIRST = " ON CONFLICT (request_id) DO NOTHING"
# A final status replaces an `interrupted` set by a too-eager recovery (or a `pending`
# row moved from `audit_pending`), never another final status: each request ends
# exactly once. Every final column is set, also the ones the insert leaves out:
# `excluded.x` of an omitted column is NULL.
_FINAL_CONFLICT = (
    " ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{col} = excluded.{col}" for col in FINAL_COLUMNS)
    + " WHERE audit_requests.status IN ('pending', 'interrupted')"
)

INSERT_PENDING = (
    f"INSERT INTO audit_pending ({_PEND_COLS}) "
    f"VALUES ({', '.join('?' for _ in PENDING_COLUMNS)})" + _KEEP_FIRST
)
UPSERT_FINAL = f"INSERT INTO audit_requests ({_REQ_COLS}) VALUES ({_REQ_MARKS})" + _FINAL_CONFLICT
DELETE_PENDING = "DELETE FROM audit_pending WHERE request_id = ?"
#: a final whose start this process no longer holds (`WriteBatch.orphans`): its pending
#: row moves first, so that the upsert keeps what only the pending row knew
MOVE_PENDING = (
    f"INSERT INTO audit_requests ({_PEND_COLS}, status) "
    f"SELECT {_PEND_COLS}, 'pending' FROM audit_pending WHERE request_id = ?" + _KEEP_FIRST
)
INSERT_EVENT = (
    f"INSERT INTO audit_routing_events ({_EVT_COLS}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)})"
)

#: a final row shadows a pending row of the same id (a late duplicate start, a batch
#: written without `WriteBatch.ended`): readers skip it and recovery deletes it
_SHADOWED = "EXISTS (SELECT 1 FROM audit_requests f WHERE f.request_id = audit_pending.request_id)"
DELETE_SHADOWED = f"DELETE FROM audit_pending WHERE {_SHADOWED}"
SELECT_PENDING = "SELECT request_id, host, pid, ts FROM audit_pending"
#: (now_ts, request_id): the pending row becomes a final `interrupted` row
INTERRUPT_PENDING = (
    f"INSERT INTO audit_requests ({_PEND_COLS}, status, error_code, finished_ts) "
    f"SELECT {_PEND_COLS}, 'interrupted', 'interrupted', CAST(? AS DOUBLE PRECISION) "
    "FROM audit_pending WHERE request_id = ?" + _KEEP_FIRST
)

#: (since_ts,): what each client key spent since then (`memory://` state rebuilds key spend)
SPEND_BY_CLIENT = (
    "SELECT client_key, SUM(cost_usd) FROM audit_requests "
    "WHERE client_key IS NOT NULL AND cost_usd IS NOT NULL AND ts >= ? GROUP BY client_key"
)

PRUNE_EVENTS = "DELETE FROM audit_routing_events WHERE ts < ?"
PRUNE_REQUESTS = "DELETE FROM audit_requests WHERE ts < ?"  # requests in flight are elsewhere

INSERT_SALT = "INSERT INTO audit_meta (key, value) VALUES ('user_salt', ?) ON CONFLICT DO NOTHING"
SELECT_SALT = "SELECT value FROM audit_meta WHERE key = 'user_salt'"
SELECT_VERSIONS = "SELECT version FROM audit_migrations"
INSERT_VERSION = "INSERT INTO audit_migrations (version, name, applied_ts) VALUES (?, ?, ?)"


def new_salt() -> str:
    return secrets.token_hex(16)


_REQUEST_VALUES = attrgetter(*REQUEST_COLUMNS)  # one C call per row instead of a generator
_EVENT_VALUES = attrgetter(*EVENT_COLUMNS)


def request_params(row: RequestRow) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _REQUEST_VALUES(row)
    return values


def pending_params(row: RequestRow) -> tuple[Any, ...]:
    values: tuple[Any, ...] = PENDING_VALUES(row)
    return values


def journaled_params(values: Sequence[Any]) -> tuple[Any, ...]:
    """`INSERT_PENDING`'s parameters from a journal line (`intents.read_rows`); anything
    but a scalar reads as NULL."""
    return tuple(value if isinstance(value, str | int | float) else None for value in values)


def event_params(row: RoutingEventRow) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _EVENT_VALUES(row)
    return values


Shape = tuple[bool, ...]  # per column: does any row of the batch have a value there?


class NonNullInserts:
    """For SQLite: an INSERT per batch that names only the columns the batch fills.

    Why: Python 3.11's sqlite3 binds None through its adapter lookup (a failed
    dict lookup and two attribute probes) for every None, and audit
    rows are mostly NULL (a pending row has ~20 None among its 31 values).
    Columns that are NULL in every row of the batch are left out of the INSERT,
    which stores the same rows: their default is NULL, and `excluded.x` of a
    left-out column is NULL too. The work is per column and in C (`zip`, tuple
    comparison), not per row in Python; one statement per batch keeps the order.
    """

    def __init__(
        self,
        table: str,
        columns: Sequence[str],
        values: Callable[[Any], tuple[Any, ...]] | None = None,
        suffix: str = "",
    ) -> None:
        """`values`: a row's values in column order; None: the rows are those values."""
        self._head = f"INSERT INTO {table} ("
        self._columns = tuple(columns)
        self._values = values
        self._suffix = suffix
        self._sql: dict[Shape, str] = {}

    def params(self, rows: Sequence[Any]) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement for `rows` (rows, not empty) and the parameters it binds."""
        values = self._values
        columns = list(zip(*(rows if values is None else map(values, rows)), strict=True))
        empty = (None,) * len(rows)
        shape: Shape = tuple([column != empty for column in columns])
        if not any(shape):  # nothing to name: bind the NULLs themselves
            shape = (True,) * len(columns)
        elif not all(shape):
            columns = list(compress(columns, shape))
        return self._statement(shape), list(zip(*columns, strict=True))

    def _statement(self, shape: Shape) -> str:
        sql = self._sql.get(shape)
        if sql is None:
            if len(self._sql) >= 1024:  # shapes repeat; this only bounds a surprise
                self._sql.clear()
            names = ", ".join(compress(self._columns, shape))
            marks = ", ".join("?" * sum(shape))
            sql = self._sql[shape] = f"{self._head}{names}) VALUES ({marks}){self._suffix}"
        return sql


#: pending and final rows come as their values (`WriteBatch.pending`, `.finals`)
PENDING_INSERTS = NonNullInserts("audit_pending", PENDING_COLUMNS, suffix=_KEEP_FIRST)
FINAL_UPSERTS = NonNullInserts("audit_requests", REQUEST_COLUMNS, suffix=_FINAL_CONFLICT)
EVENT_INSERTS = NonNullInserts("audit_routing_events", EVENT_COLUMNS, _EVENT_VALUES)


def select_requests(query: RequestFilter) -> tuple[str, list[Any]]:
    """Finished rows and, unless the filter rules them out, the requests in flight."""
    shared = [
        (f"{column} {op} ?", value)
        for column, op, value in (
            ("ts", ">=", query.since_ts),
            ("ts", "<", query.until_ts),
            ("lane", "=", query.lane),
            ("request_id", "=", query.request_id),
        )
        if value is not None
    ]
    arms: list[str] = []
    params: list[Any] = []
    if query.status != "pending":
        clauses = [clause for clause, _ in shared]
        params.extend(value for _, value in shared)
        if query.status is not None:
            clauses.append("status = ?")
            params.append(query.status)
        if query.model is not None:
            clauses.append("(model = ? OR model LIKE ?)")
            params.extend([query.model, f"%/{query.model}"])
        arms.append(_where(f"SELECT {_REQ_COLS} FROM audit_requests", clauses))
    if query.model is None and query.status in (None, "pending"):  # in flight: no model yet
        arms.append(
            _where(
                f"SELECT {_PENDING_AS_REQUEST} FROM audit_pending",
                [f"NOT {_SHADOWED}", *(clause for clause, _ in shared)],
            )
        )
        params.extend(value for _, value in shared)
    sql = " UNION ALL ".join(arms)
    if query.limit is not None:
        sql += " ORDER BY ts DESC LIMIT ?"
        params.append(query.limit)
    else:
        sql += " ORDER BY ts"
    return sql, params


def _where(select: str, clauses: list[str]) -> str:
    return f"{select} WHERE {' AND '.join(clauses)}" if clauses else select


def select_events(
    request_ids: Sequence[str] | None, since_ts: float | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if request_ids is not None:
        clauses.append(f"request_id IN ({', '.join('?' for _ in request_ids) or 'NULL'})")
        params.extend(request_ids)
    if since_ts is not None:
        clauses.append("ts >= ?")
        params.append(since_ts)
    sql = f"SELECT {_EVT_COLS} FROM audit_routing_events"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return sql + " ORDER BY ts, seq", params


def abandoned(
    rows: Sequence[tuple[str, str | None, int | None, float]], rule: Interrupted
) -> list[str]:
    """Request ids of `pending` rows whose writer is gone.

    On this host a row is abandoned when its process is no longer running (or is
    this process, which has just started and so wrote nothing yet). Rows of
    other hosts are abandoned only when older than `stale_before_ts`, because a
    replica elsewhere may still be serving them.
    """
    gone: list[str] = []
    for request_id, host, pid, ts in rows:
        if host == rule.host:
            if pid is None or pid == rule.own_pid or not rule.is_alive(pid):
                gone.append(request_id)
        elif ts < rule.stale_before_ts:
            gone.append(request_id)
    return gone


def to_numbered(sql: str) -> str:
    """`?` placeholders to PostgreSQL's `$1, $2, ...`."""
    pieces = sql.split("?")
    out = [pieces[0]]
    for index, piece in enumerate(pieces[1:], start=1):
        out.append(f"${index}{piece}")
    return "".join(out)
