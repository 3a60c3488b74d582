"""The audit store seam: a few batch-oriented operations both backends implement.

Writes arrive in batches from the single writer (`writer.py`); each batch is one
transaction, so the rows of a batch are durable together. Reads are plain
filtered selects; aggregation happens in Python (`query.py`) so both backends
return the same statistics. The backends implement this protocol without
importing each other; `backends.py` picks one for a URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from laneway.audit.records import RequestRow, RoutingEventRow

if TYPE_CHECKING:
    from laneway.audit.intents import IntentJournal


@dataclass(slots=True)
class WriteBatch:
    """Everything one flush writes, in one transaction.

    `ended`: request ids whose final row this batch holds and whose
    `audit_pending` row, if any, an earlier batch wrote: that row goes.
    `orphans` (some of `ended`): finals whose start the sink no longer holds;
    their pending row moves into `audit_requests` before the final upsert,
    which keeps what it knew.

    `pending` and `finals` hold each row as the values its INSERT binds
    (`PENDING_COLUMNS`, `REQUEST_COLUMNS` order; `records.pending_values`,
    `records.final_values`): no object per row.
    """

    pending: list[tuple[Any, ...]] = field(default_factory=list)
    finals: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[RoutingEventRow] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pending) + len(self.finals) + len(self.events)


@dataclass(frozen=True, slots=True)
class RequestFilter:
    since_ts: float | None = None
    until_ts: float | None = None
    lane: str | None = None
    status: str | None = None
    model: str | None = None  # "provider/model" or just the model name
    request_id: str | None = None
    limit: int | None = None  # newest first when set


@dataclass(frozen=True, slots=True)
class Interrupted:
    """Which `pending` rows the recovery on start may mark `interrupted`."""

    host: str
    own_pid: int
    is_alive: Callable[[int], bool]  # is this pid on this host still running?
    stale_before_ts: float  # rows of other hosts older than this are abandoned


class AuditStore(Protocol):
    """A durable home for request rows and routing events."""

    user_salt: str
    #: the most rows one `write` should get; the writer cuts its batches to this
    max_batch_rows: int
    #: where a strict start records its request instead of committing a pending row
    journal: IntentJournal | None

    async def open(self) -> None:
        """Connect, apply missing migrations and load the per-store salt."""

    async def write(self, batch: WriteBatch) -> None:
        """Insert pending rows, upsert final rows and append events, atomically."""

    async def mark_interrupted(self, rule: Interrupted, *, now_ts: float) -> int:
        """Mark rows left `pending` by dead processes `interrupted`; return how many."""

    async def prune(self, before_ts: float) -> int:
        """Delete requests and events older than `before_ts`; return the number of requests."""

    async def select_requests(self, query: RequestFilter) -> list[RequestRow]: ...

    async def select_events(
        self, *, request_ids: Sequence[str] | None = None, since_ts: float | None = None
    ) -> list[RoutingEventRow]: ...

    async def spend_by_client(self, since_ts: float) -> dict[str, float]:
        """USD spent per client key since `since_ts`, from the final rows."""
        ...

    async def aclose(self) -> None: ...
