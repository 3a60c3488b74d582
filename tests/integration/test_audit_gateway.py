"""The real Gateway writes the audit log that `laneway stats --routing` reads back.

Providers are the scripted `fake` provider (registered like any other kind), so
no wire format is involved; the engine, the sink, SQLite and the stats are real.
"""

from __future__ import annotations

from pathlib import Path

from laneway.audit.query import routing_stats, summarize
from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import RequestFilter
from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.providers.fake import FakeAdapter
from laneway.types import CompletionRequest, TaskContext, Usage


def _fake(gw: Gateway, provider: str) -> FakeAdapter:
    adapter = gw.adapter(provider)
    assert isinstance(adapter, FakeAdapter)
    return adapter


async def _recorded_run(db: Path) -> None:
    cfg = {
        "providers": {"f": {"kind": "fake"}, "g": {"kind": "fake"}},
        "lanes": {"coding": {"primary": "f/big", "fallback": ["g/small"]}},
        "audit": {"url": f"sqlite:///{db}"},
    }
    gw = Gateway.from_config(cfg, env={}, clock=FakeClock())
    big, small = _fake(gw, "f"), _fake(gw, "g")
    for _ in range(5):
        big.enqueue("big", text="ok", usage=Usage(10, 5, 0.001))
    for _ in range(3):  # one request retries f/big to exhaustion; the breaker then opens
        big.enqueue("big", error_code="unavailable", status=503)
    for _ in range(3):
        small.enqueue("small", text="fallback", usage=Usage(10, 5, 0.0001))
    request = CompletionRequest.from_prompt("hello")
    for _ in range(8):
        outcome = await gw.run(request, TaskContext(lane="coding", user_id="u1"))
        assert outcome.ok
    await gw.aclose()


async def test_stats_routing_reads_what_the_gateway_recorded(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    await _recorded_run(db)
    store = SqliteStore(db)
    await store.open()
    rows = await store.select_requests(RequestFilter())
    events = await store.select_events()
    await store.aclose()

    assert {r.status for r in rows} == {"success"}
    assert all(r.user_id is None and r.user_hash for r in rows)
    stats = routing_stats(rows, events)
    assert stats.decided_models == {"f/big": 8}
    assert stats.served_models == {"f/big": 5, "g/small": 3}
    assert (stats.fallbacks, stats.rules) == (3, {"static (no rule)": 8})
    assert stats.breaker_openings == {"f/big": 1}
    kinds = [e.kind for e in events]
    assert not {"decision", "attempt"} & set(kinds)  # held by the request rows
    assert {tuple(r.fallback_chain()) for r in rows} == {("g/small",)}
    assert kinds.count("retry") == 2
    assert [e.code for e in events if e.kind == "skip"] == ["circuit_open", "circuit_open"]
    by_model = {g.key: g for g in summarize(rows, "model")}
    assert by_model["g/small"].fallback_rate == 1.0
    assert by_model["f/big"].cost_usd == 0.005
