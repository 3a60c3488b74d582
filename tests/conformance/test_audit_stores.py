"""One behaviour suite for every audit store: a real SQLite file and the real PostgreSQL.

Each PostgreSQL run gets its own schema (dropped afterwards), so parallel runs
never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from audit_batches import row_batch
from laneway.audit.postgres import PostgresStore
from laneway.audit.records import RequestRow, RoutingEventRow, dump_json
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import AuditStore, Interrupted, RequestFilter
from laneway.clock import FakeClock

T0 = 1_700_000_000.0


def pending(
    request_id: str, *, ts: float = T0, host: str = "h1", pid: int = 10, **kw: Any
) -> RequestRow:
    return RequestRow(request_id, ts, "pending", kw.pop("lane", "coding"), host=host, pid=pid, **kw)


def final(request_id: str, status: str = "success", *, ts: float = T0, **kw: Any) -> RequestRow:
    fields: dict[str, Any] = {
        "lane": "coding",
        "provider": "zai",
        "model": "zai/glm-4.7",
        "attempts": dump_json([{"model": "zai/glm-4.7", "code": "success", "attempt": 1}]),
        "trace": dump_json(["zai/glm-4.7:success"]),
        "duration_ms": 120.0,
        "tokens_in": 10,
        "tokens_out": 20,
        "cost_usd": 0.001,
        "finished_ts": ts + 0.12,
    }
    fields.update(kw)
    return RequestRow(request_id, ts, status, **fields)


async def _drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Makes stores that share one database, so reopen behaviour can be tested."""
    opened: list[AuditStore] = []
    clock = FakeClock()
    if request.param == "sqlite":

        def make() -> AuditStore:
            return SqliteStore(tmp_path / "audit.db", clock=clock)
    else:
        url: str = request.getfixturevalue("postgres_url")
        schema = f"laneway_audit_test_{uuid.uuid4().hex[:12]}"

        def make() -> AuditStore:
            return PostgresStore(url, schema=schema, clock=clock)

    async def factory() -> AuditStore:
        store = make()
        await store.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        await store.aclose()
    if request.param == "postgres":
        await _drop_schema(url, schema)


@pytest.fixture
async def store(store_factory: Any) -> AuditStore:
    result: AuditStore = await store_factory()
    return result


async def test_a_final_row_replaces_the_pending_row(store: AuditStore) -> None:
    """The sink gives a final row its start's fields and names the pending row it ends."""
    await store.write(row_batch(pending=[pending("r1", payload_sha256="abc", job_id="j1")]))
    [row] = await store.select_requests(RequestFilter())
    assert (row.status, row.payload_sha256, row.job_id, row.host) == ("pending", "abc", "j1", "h1")
    assert [r.request_id for r in await store.select_requests(RequestFilter(status="pending"))] == [
        "r1"
    ]
    assert await store.select_requests(RequestFilter(model="glm-4.7")) == []

    await store.write(
        row_batch(finals=[final("r1", payload_sha256="abc", host="h1", pid=10)], ended=["r1"])
    )
    [row] = await store.select_requests(RequestFilter())
    assert (row.status, row.payload_sha256, row.host) == ("success", "abc", "h1")
    assert await store.select_requests(RequestFilter(status="pending")) == []
    rule = Interrupted(host="h1", own_pid=10, is_alive=lambda pid: False, stale_before_ts=T0)
    assert await store.mark_interrupted(rule, now_ts=T0 + 1) == 0  # nothing left pending


async def test_an_orphan_final_keeps_the_pending_rows_start_fields(store: AuditStore) -> None:
    """A final whose start the sink no longer held: the pending row's fields stay."""
    await store.write(row_batch(pending=[pending("r1", payload_sha256="abc", content=None)]))
    chain = dump_json(["anthropic/claude-sonnet-4-5"])
    await store.write(
        row_batch(
            finals=[
                final(
                    "r1",
                    ts=T0 + 5,
                    payload_sha256=None,
                    decision_fallback_chain=chain,
                    decision_estimated_cost_usd=0.0025,
                )
            ],
            ended=["r1"],
            orphans=["r1"],
        )
    )
    [row] = await store.select_requests(RequestFilter())
    assert row.fallback_chain() == ["anthropic/claude-sonnet-4-5"]
    assert row.decision_estimated_cost_usd == 0.0025
    assert row.status == "success"
    assert row.ts == T0  # the pending row's start time stays
    assert (row.payload_sha256, row.host, row.pid) == ("abc", "h1", 10)
    assert (row.tokens_in, row.tokens_out, row.cost_usd) == (10, 20, 0.001)
    assert row.attempt_list()[0]["code"] == "success"
    assert row.trace_list() == ["zai/glm-4.7:success"]


async def test_final_without_pending_row_is_still_recorded(store: AuditStore) -> None:
    await store.write(
        row_batch(finals=[final("r2", "failed", error_code="timeout")], orphans=["r2"])
    )
    [row] = await store.select_requests(RequestFilter())
    assert (row.request_id, row.status, row.error_code) == ("r2", "failed", "timeout")


async def test_a_request_ends_exactly_once(store: AuditStore) -> None:
    await store.write(row_batch(pending=[pending("r3")]))
    await store.write(row_batch(finals=[final("r3", "success")], ended=["r3"]))
    await store.write(row_batch(finals=[final("r3", "failed")], ended=["r3"]))
    await store.write(row_batch(pending=[pending("r3")]))  # a late duplicate start
    [row] = await store.select_requests(RequestFilter())
    assert row.status == "success"
    assert await store.select_requests(RequestFilter(status="pending")) == []
    # recovery drops the shadowed pending row instead of counting it interrupted
    rule = Interrupted(host="h1", own_pid=99, is_alive=lambda pid: False, stale_before_ts=T0)
    assert await store.mark_interrupted(rule, now_ts=T0 + 1) == 0
    [row] = await store.select_requests(RequestFilter())
    assert row.status == "success"


async def test_pending_rows_of_dead_processes_become_interrupted(store: AuditStore) -> None:
    await store.write(
        row_batch(
            pending=[
                pending("dead", host="h1", pid=11),
                pending("alive", host="h1", pid=12),
                pending("elsewhere-fresh", host="h2", pid=11, ts=T0 + 100),
                pending("elsewhere-stale", host="h2", pid=11, ts=T0 - 100),
            ],
            finals=[final("done")],
        )
    )
    rule = Interrupted(host="h1", own_pid=99, is_alive=lambda pid: pid == 12, stale_before_ts=T0)
    assert await store.mark_interrupted(rule, now_ts=T0 + 200) == 2
    status = {r.request_id: r.status for r in await store.select_requests(RequestFilter())}
    assert status == {
        "dead": "interrupted",
        "alive": "pending",
        "elsewhere-fresh": "pending",
        "elsewhere-stale": "interrupted",
        "done": "success",
    }
    [row] = await store.select_requests(RequestFilter(request_id="dead"))
    assert (row.error_code, row.finished_ts) == ("interrupted", T0 + 200)


async def test_filters_and_limit_newest_first(store: AuditStore) -> None:
    await store.write(
        row_batch(
            finals=[
                final("a", ts=T0, lane="coding", model="zai/glm-4.7"),
                final("b", "failed", ts=T0 + 10, lane="planning", model="anthropic/opus"),
                final("c", ts=T0 + 20, lane="coding", model="anthropic/opus"),
            ]
        )
    )

    async def ids(**kw: Any) -> list[str]:
        return [r.request_id for r in await store.select_requests(RequestFilter(**kw))]

    assert await ids() == ["a", "b", "c"]
    assert await ids(limit=2) == ["c", "b"]
    assert await ids(lane="coding") == ["a", "c"]
    assert await ids(status="failed") == ["b"]
    assert await ids(model="opus") == ["b", "c"]
    assert await ids(model="zai/glm-4.7") == ["a"]
    assert await ids(since_ts=T0 + 5) == ["b", "c"]


async def test_routing_events_round_trip_in_order(store: AuditStore) -> None:
    events = [
        RoutingEventRow(
            "r1", T0, 0, "decision", "zai/glm-4.7", "static", detail='{"rule_index": 0}'
        ),
        RoutingEventRow("r1", T0 + 1, 2, "attempt", "zai/glm-4.7", "rate_limit", 40.0),
        RoutingEventRow("r1", T0 + 1, 1, "skip", "openai/gpt", "circuit_open"),
        RoutingEventRow(
            None, T0 + 2, 3, "breaker", "zai/glm-4.7", "open", detail='{"old":"closed"}'
        ),
        RoutingEventRow("r2", T0 + 3, 4, "routing_call", "anthropic/haiku", "used", 80.0, 0.0004),
    ]
    await store.write(row_batch(events=events))
    got = await store.select_events(request_ids=["r1"])
    assert [(e.kind, e.seq) for e in got] == [("decision", 0), ("skip", 1), ("attempt", 2)]
    assert got[0].detail_dict() == {"rule_index": 0}
    everything = await store.select_events(since_ts=T0 + 2)
    assert [e.kind for e in everything] == ["breaker", "routing_call"]
    assert everything[1].cost_usd == pytest.approx(0.0004)


async def test_prune_deletes_old_requests_and_events(store: AuditStore) -> None:
    await store.write(
        row_batch(
            finals=[final("old", ts=T0), final("new", ts=T0 + 100)],
            events=[
                RoutingEventRow("old", T0, 0, "attempt", "m/x", "success", 1.0),
                RoutingEventRow("new", T0 + 100, 1, "attempt", "m/x", "success", 1.0),
            ],
        )
    )
    assert await store.prune(T0 + 50) == 1
    assert [r.request_id for r in await store.select_requests(RequestFilter())] == ["new"]
    assert [e.request_id for e in await store.select_events()] == ["new"]


async def test_reopen_keeps_schema_version_and_user_salt(store_factory: Any) -> None:
    first = await store_factory()
    await first.write(row_batch(finals=[final("kept")]))
    salt = first.user_salt
    await first.aclose()
    second = await store_factory()
    assert second.user_salt == salt
    assert len(salt) == 32
    assert [r.request_id for r in await second.select_requests(RequestFilter())] == ["kept"]


async def test_rows_from_other_versions_read_tolerantly(store: AuditStore) -> None:
    attempts = dump_json([{"model": "a/b", "code": "timeout", "attempt": 1, "future_field": 7}])
    await store.write(
        row_batch(finals=[final("t", attempts=attempts, trace="not json", extra='{"x": 1}')])
    )
    [row] = await store.select_requests(RequestFilter())
    assert row.attempt_list() == [
        {"model": "a/b", "code": "timeout", "attempt": 1, "future_field": 7}
    ]
    assert row.trace_list() == []
    assert row.extra_dict() == {"x": 1}


async def test_spend_by_client_sums_final_rows_since_a_time(store: AuditStore) -> None:
    """What a restarted server on memory state rebuilds each key's spend from."""
    rows = [
        final("a1", ts=T0, cost_usd=0.25, client_key="team", client_request_id="mine"),
        final("a2", ts=T0 + 10, cost_usd=0.5, client_key="team"),
        final("a3", ts=T0 + 10, cost_usd=2.0, client_key="other"),
        final("old", ts=T0 - 100, cost_usd=9.0, client_key="team"),
        final("r1", "rejected", ts=T0 + 20, cost_usd=None, client_key="team"),
        final("anon", ts=T0 + 20, cost_usd=1.0),
    ]
    await store.write(row_batch(finals=rows))
    assert await store.spend_by_client(T0) == {"team": 0.75, "other": 2.0}
    [mine] = await store.select_requests(RequestFilter(request_id="a1"))
    assert (mine.client_key, mine.client_request_id) == ("team", "mine")
