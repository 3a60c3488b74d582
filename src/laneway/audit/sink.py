"""The engine's view of the audit log: `start`, `record`, `aclose`.

`StoreSink` turns events into rows (`records.py`) and hands them to the batched
writer. Durability:

- `strict` (default): `start()` returns only once the request is durable, so no
  provider is ever called for a request the log does not know. On SQLite that
  is a line copied into the store's memory-mapped intent journal (`intents.py`),
  and the row itself goes with the batched rows. Elsewhere (PostgreSQL) it is the
  request's `pending` row, committed: concurrent starts share one commit (group
  commit, see `writer.py`), and a start alone in flight commits its own row. If
  the request cannot be made durable, `start()` raises `AuditError` and the
  engine must not call a provider.
- `batched`: `start()` queues the row and returns at once.

Either way `record()` never blocks and `aclose()` writes everything queued.
What `record()` queues lingers up to `linger_s` (20 ms) so that many requests'
rows share a commit; a strict `start()` does not wait for them.
When the sink opens its store it marks rows left `pending` by a dead process
(same host: its pid is gone; other hosts: older than `stale_after_s`) as
`interrupted`.
"""

from __future__ import annotations

import asyncio
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args

from laneway.audit import records
from laneway.audit.backends import build_store
from laneway.audit.intents import pid_alive
from laneway.audit.records import RecordPolicy
from laneway.audit.store import AuditStore, Interrupted, RequestFilter, WriteBatch
from laneway.audit.writer import AuditWriter, Spawn
from laneway.clock import Clock
from laneway.config.store_urls import parse_store_url
from laneway.errors import AuditError
from laneway.events import AttemptFinished, DecisionMade, Event, RequestFinished, RequestStarted

if TYPE_CHECKING:
    from laneway.config.schema import AuditSpec

DEFAULT_STALE_AFTER_S = 3600.0
#: how long fire-and-forget rows (final rows, routing events) wait for company
#: before their commit; a strict start or a flush writes them at once
DEFAULT_LINGER_S = 0.02
_MAX_TRACKED = 100_000
#: events whose facts the final request row stores (`records.final_values`)
HELD_BY_REQUEST_ROW = (DecisionMade, AttemptFinished)


class AuditSink(Protocol):
    async def start(self, event: RequestStarted) -> None: ...
    def record(self, event: Event) -> None: ...
    async def aclose(self) -> None: ...


class NullSink:
    """Audit disabled: accepts everything, stores nothing."""

    async def start(self, event: RequestStarted) -> None:
        return None

    def record(self, event: Event) -> None:
        return None

    async def aclose(self) -> None:
        return None


class StoreSink:
    #: the kinds `record()` stores (`EventBus.wants`: the engine need not build the others)
    events: frozenset[type] = frozenset(get_args(Event)) - set(HELD_BY_REQUEST_ROW)

    def __init__(
        self,
        store: AuditStore,
        *,
        clock: Clock,
        durability: Literal["strict", "batched"] = "strict",
        store_content: bool = False,
        store_raw_user_id: bool = False,
        spawn: Spawn | None = None,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        linger_s: float = DEFAULT_LINGER_S,
    ) -> None:
        self.store = store
        self.strict = durability == "strict"
        self._clock = clock
        self._flags = (store_content, store_raw_user_id)
        self._policy = RecordPolicy()
        self._stale_after_s = stale_after_s
        self._seq = count()
        # request id -> its start: in flight, then finished and waiting for its final
        # row's batch, which takes from the start what the pending row knew
        self._started: dict[str, RequestStarted] = {}
        self._ended: dict[str, RequestStarted] = {}
        self._opened = False
        self._open_lock: asyncio.Lock | None = None
        self._journal = store.journal if self.strict else None
        self._journaled = 0  # the writer's count of queued items at the last journaled start
        self.writer: AuditWriter[Event] = AuditWriter(
            store,
            self._to_batch,
            before_first_write=self.open,
            spawn=spawn,
            max_batch=store.max_batch_rows,  # an item makes at most one row
            linger_s=linger_s,
            on_batch=self._batch_done,
            clock=clock,
        )
        self.interrupted = 0  # rows marked `interrupted` when this sink opened

    async def open(self) -> None:
        """Open the store, apply migrations and recover abandoned `pending` rows (once)."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            await self.store.open()
            store_content, store_raw = self._flags
            self._policy = RecordPolicy(
                salt=self.store.user_salt,
                store_content=store_content,
                store_raw_user_id=store_raw,
            )
            now = self._clock.wall()
            rule = Interrupted(
                host=self._policy.host,
                own_pid=self._policy.pid,
                is_alive=pid_alive,
                stale_before_ts=now - self._stale_after_s,
            )
            self.interrupted = await self.store.mark_interrupted(rule, now_ts=now)
            self._opened = True

    async def start(self, event: RequestStarted) -> None:
        started = self._started
        if len(started) >= _MAX_TRACKED:
            started.clear()  # finals went missing; their finals become orphans (WriteBatch)
        started[event.request_id] = event
        if not self.strict:
            self.writer.submit(event)
            return
        if not self._opened:
            await self.open()
        journal = self._journal
        if journal is None:
            await self.writer.submit_and_wait(event, alone=len(started) == 1)
            return
        if not self.writer.can_take():
            raise AuditError(
                "the audit log cannot take another request: it is closing, or its queue "
                "is full because the store is slow or down"
            )
        journal.append(records.pending_values(event, self._policy))
        self.writer.submit(event)
        self._journaled = self.writer.queued

    def _batch_done(self, taken: int, ok: bool) -> None:
        """Empty the journal once every start it holds is committed; keep it after a failure."""
        journal = self._journal
        if journal is None:
            return
        if not ok:
            journal.keep()
        elif taken >= self._journaled:
            journal.clear()

    def record(self, event: Event) -> None:
        if isinstance(event, HELD_BY_REQUEST_ROW):
            return
        if isinstance(event, RequestFinished):
            start = self._started.pop(event.request_id, None)
            if start is not None:
                ended = self._ended
                if len(ended) >= _MAX_TRACKED:
                    ended.clear()  # items were dropped unwritten; see `started` above
                ended[event.request_id] = start
        elif isinstance(event, RequestStarted) and event.request_id in self._started:
            return  # already written by start()
        self.writer.submit(event)

    async def flush(self) -> None:
        await self.writer.flush()

    async def spend_by_client(self, since_ts: float) -> dict[str, float]:
        """USD spent per client key since `since_ts` (for rebuilding key budgets at start)."""
        await self.open()
        return await self.store.spend_by_client(since_ts)

    async def ready(self) -> bool:
        """Whether the store opens and answers a query now (the server's `/readyz`)."""
        try:
            await self.open()
            await self.store.select_requests(RequestFilter(limit=1))
        except Exception:  # whatever the driver raises, the answer is "not ready"
            return False
        return True

    async def aclose(self) -> None:
        try:
            await self.writer.aclose()
        finally:
            if self._journal is not None:
                self._journal.close()
            await self.store.aclose()

    def _to_batch(self, events: list[Event]) -> WriteBatch:
        """Rows for one commit, built with one type lookup per event.

        A final row is inserted with what only the pending row knew, taken
        from the request's start (`records.final_values`). A request that
        starts and finishes within one batch (batched durability, a request
        shorter than the linger) gets no pending row at all; otherwise the
        batch deletes the pending row an earlier one wrote (`WriteBatch.ended`).
        A request id started twice in the batch is left alone.
        """
        policy = self._policy
        batch = WriteBatch()
        pending: list[RequestStarted | None] = []  # rows built at the end, for those left
        finals = batch.finals
        rows = batch.events
        seq = self._seq
        ended = self._ended
        starts: dict[str, int] = {}  # request id -> its start's index; -1: started twice
        for event in events:
            if isinstance(event, RequestFinished):
                request_id = event.request_id
                start = ended.pop(request_id, None)
                at = starts.pop(request_id, -1)
                if start is None and at < 0 and event.status == "rejected" and refused(event):
                    # refused before any start: no pending row to delete or move
                    finals.append(records.final_values(event, policy))
                    continue
                if at >= 0:  # started in this batch: no pending row to delete
                    start = pending[at]
                    assert start is not None  # each index leaves `starts` once
                    pending[at] = None
                else:
                    batch.ended.append(request_id)
                    if start is None:
                        batch.orphans.append(request_id)
                finals.append(records.final_values(event, policy, start))
            elif isinstance(event, RequestStarted):
                request_id = event.request_id
                starts[request_id] = -1 if request_id in starts else len(pending)
                pending.append(event)
            else:
                routing = records.routing_row(event, next(seq), policy)
                if routing is not None:
                    rows.append(routing)
        batch.pending = [records.pending_values(e, policy) for e in pending if e is not None]
        return batch


#: `RequestFinished.extra` key the server sets on a refusal it records itself
REFUSED_BY = "refused_by"


def refused(event: RequestFinished) -> bool:
    """A refusal the server recorded before any engine start (no pending row to delete)."""
    return event.extra is not None and REFUSED_BY in event.extra


def build_audit_sink(
    spec: AuditSpec,
    *,
    clock: Clock,
    source_dir: Path | None = None,
    spawn: Spawn | None = None,
) -> AuditSink:
    """The sink `audit:` asks for; nothing is opened until the first request."""
    if not spec.enabled:
        return NullSink()
    location = parse_store_url(spec.url, source_dir=source_dir)
    return StoreSink(
        build_store(location, clock=clock),
        clock=clock,
        durability=spec.durability,
        store_content=spec.store_content,
        store_raw_user_id=spec.store_raw_user_id,
        spawn=spawn,
    )


__all__ = ["REFUSED_BY", "AuditSink", "NullSink", "StoreSink", "build_audit_sink", "refused"]
