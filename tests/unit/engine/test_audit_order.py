"""The engine and its audit sink (the `AuditSink` protocol of laneway/audit/sink.py).

Strict durability: `start()` is awaited before any provider call; a sink that
cannot start stops the request before the provider; every later event goes to
`record()`; closing the Gateway closes the sink.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_scenario import ask, config, fake

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.errors import AuditError
from laneway.events import Event, RequestStarted
from laneway.types import TaskContext


class Sink:
    """Records what the engine asked of it, and how many provider calls had happened."""

    def __init__(self, gw_calls: list[Any] | None = None, *, fail: bool = False) -> None:
        self.log: list[str] = []
        self.calls_at_start: int | None = None
        self.calls: list[Any] = gw_calls if gw_calls is not None else []
        self.fail = fail
        self.closed = False

    async def start(self, event: RequestStarted) -> None:
        self.calls_at_start = len(self.calls)
        self.log.append("start")
        if self.fail:
            raise AuditError("the audit store is not writable")

    def record(self, event: Event) -> None:
        self.log.append(type(event).__name__)

    async def aclose(self) -> None:
        self.closed = True


def build(sink: Sink) -> Gateway:
    cfg = config({"work": {"primary": "f/a"}})
    gw = Gateway.from_config(cfg, env={}, clock=FakeClock(), audit=sink)
    sink.calls = fake(gw).calls
    return gw


async def test_start_comes_before_the_provider_and_record_gets_the_rest() -> None:
    sink = Sink()
    gw = build(sink)
    fake(gw).enqueue("a", text="ok")
    async with gw:
        await gw.complete(ask(), TaskContext(lane="work"))
    assert sink.calls_at_start == 0
    assert len(sink.calls) == 1
    assert sink.log == ["start", "DecisionMade", "AttemptFinished", "RequestFinished"]
    assert sink.closed


async def test_a_sink_that_cannot_start_stops_the_request_before_any_provider_call() -> None:
    sink = Sink(fail=True)
    gw = build(sink)
    with pytest.raises(AuditError):
        await gw.complete(ask(), TaskContext(lane="work"))
    outcome = await gw.run(ask(), TaskContext(lane="work"))
    assert outcome.status == "degraded"
    assert sink.calls == []
    await gw.aclose()
