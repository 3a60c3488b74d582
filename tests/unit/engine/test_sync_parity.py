"""`SyncGateway` offers what `Gateway` offers, blocking, with the same parameters.

The parity check compares public names and signatures (after the idea of
simonw/llm's async-parity test): a method added to one facade only fails here.
"""

from __future__ import annotations

import inspect

import pytest
from engine_scenario import ask, config

import laneway
from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.engine.sync import SyncGateway
from laneway.errors import RoutingExhaustedError
from laneway.providers.fake import FakeAdapter
from laneway.types import StreamDone, TaskContext, TextDelta

#: the async close is `aclose`, the sync one `close`; `gateway` reaches the async core;
#: the audit sink is the server's, bound to the gateway's loop
ONLY_ASYNC = {"aclose", "audit_sink"}
ONLY_SYNC = {"close", "gateway"}


def public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_the_sync_facade_has_every_public_method_of_the_gateway() -> None:
    assert public(Gateway) - ONLY_ASYNC == public(SyncGateway) - ONLY_SYNC


#: properties, not methods: they have no parameters to compare
PROPERTIES = {"config", "metrics", "state_store"}


@pytest.mark.parametrize("name", sorted(public(Gateway) - ONLY_ASYNC - PROPERTIES))
def test_each_method_takes_the_same_parameters(name: str) -> None:
    async_params = inspect.signature(getattr(Gateway, name)).parameters
    sync_params = inspect.signature(getattr(SyncGateway, name)).parameters
    assert [(p.name, p.kind, p.default) for p in async_params.values()] == [
        (p.name, p.kind, p.default) for p in sync_params.values()
    ]


def test_laneway_exports_both() -> None:
    assert laneway.Gateway is Gateway
    assert laneway.SyncGateway is SyncGateway


def sync_gateway() -> SyncGateway:
    cfg = config(
        {"work": {"primary": "f/a", "fallback": ["f/b"]}},
        retry={"unavailable": {"retries": 0}},
    )
    return SyncGateway.from_config(cfg, env={}, clock=FakeClock())


def script(gw: SyncGateway) -> FakeAdapter:
    adapter = gw.adapter("f")
    assert isinstance(adapter, FakeAdapter)
    return adapter


def test_complete_run_and_stream_work_without_an_event_loop() -> None:
    with sync_gateway() as gw:
        script(gw).enqueue("a", error_code="unavailable")
        script(gw).enqueue("b", text="sync b")
        done = gw.complete(ask(), TaskContext(lane="work"))
        assert done.trace == ("f/a:unavailable", "f/b:success")

        script(gw).enqueue("a", error_code="unavailable")
        script(gw).enqueue("b", error_code="unavailable")
        outcome = gw.run(ask(), TaskContext(lane="work"))
        assert (outcome.status, outcome.code) == ("degraded", "unavailable")

        script(gw).enqueue("a", stream_chunks=["one ", "two"])
        events = list(gw.stream(ask(), TaskContext(lane="work")))
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "one two"
        assert isinstance(events[-1], StreamDone)

        assert gw.route(TaskContext(lane="work")).model.model == "a"
        assert gw.breaker_states() == {"f/a": "closed", "f/b": "closed"}
        assert gw.budget_report() == {}


def test_errors_propagate_through_the_sync_facade() -> None:
    with sync_gateway() as gw:
        script(gw).enqueue("a", error_code="network")
        script(gw).enqueue("b", error_code="network")
        with pytest.raises(RoutingExhaustedError) as caught:
            gw.complete(ask(), TaskContext(lane="work"))
    assert caught.value.codes == ("network", "network")


def test_leaving_a_sync_stream_early_closes_it() -> None:
    with sync_gateway() as gw:
        script(gw).enqueue("a", stream_chunks=["one ", "two ", "three"])
        stream = gw.stream(ask(), TaskContext(lane="work"))
        next(stream)
        stream.close()
        script(gw).enqueue("a", text="next request works")
        assert gw.complete(ask(), TaskContext(lane="work")).content == "next request works"
