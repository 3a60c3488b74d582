"""`EventBus.wants`: events a subscriber did not ask for are not built for it."""

from __future__ import annotations

from unittest.mock import MagicMock

from engine_scenario import ask, config, fake

from laneway.audit.sink import StoreSink
from laneway.clock import FakeClock
from laneway.engine.bus import EventBus
from laneway.engine.gateway import Gateway
from laneway.events import (
    AttemptFinished,
    DecisionMade,
    Event,
    RequestFinished,
    RequestStarted,
)
from laneway.telemetry.metrics import Metrics
from laneway.types import TaskContext


class Picky:
    def __init__(self, *kinds: type) -> None:
        self.events = frozenset(kinds)
        self.seen: list[str] = []

    def __call__(self, event: Event) -> None:
        self.seen.append(type(event).__name__)


def test_a_bus_wants_what_its_subscribers_name_and_everything_for_one_that_names_nothing() -> None:
    bus = EventBus()
    assert not bus.wants(DecisionMade)  # nobody listens
    finished_only = Picky(RequestFinished)
    bus.subscribe(finished_only)
    assert bus.wants(RequestFinished)
    assert not bus.wants(DecisionMade)
    bus.subscribe(Picky(AttemptFinished))
    assert bus.wants(AttemptFinished)
    assert not bus.wants(DecisionMade)

    def everything(event: Event) -> None: ...

    bus.subscribe(everything)
    assert bus.wants(DecisionMade)
    bus.unsubscribe(everything)
    anything = MagicMock()  # its `events` is no set of kinds: it takes everything
    bus.subscribe(anything)
    assert bus.wants(DecisionMade)
    bus.unsubscribe(anything)
    assert not bus.wants(DecisionMade)
    bus.unsubscribe(finished_only)
    assert not bus.wants(RequestFinished)
    assert bus.wants(AttemptFinished)


class PickySink:
    """An audit sink that says which events it stores."""

    events = frozenset({RequestFinished})

    def __init__(self) -> None:
        self.log: list[str] = []

    async def start(self, event: RequestStarted) -> None:
        self.log.append("start")

    def record(self, event: Event) -> None:
        self.log.append(type(event).__name__)

    async def aclose(self) -> None:
        return None


async def test_the_engine_builds_no_decision_or_attempt_event_that_nobody_takes() -> None:
    sink = PickySink()
    gw = Gateway.from_config(
        config({"work": {"primary": "f/a"}}), env={}, clock=FakeClock(), audit=sink
    )
    fake(gw).enqueue("a", text="ok")
    async with gw:
        await gw.complete(ask(), TaskContext(lane="work"))
    assert sink.log == ["start", "RequestFinished"]


def test_the_audit_store_and_the_metrics_name_their_events() -> None:
    """The audit row holds the decision and the attempts; the metrics count attempts."""
    assert DecisionMade not in StoreSink.events
    assert AttemptFinished not in StoreSink.events
    assert RequestFinished in StoreSink.events
    assert AttemptFinished in Metrics.events
    assert DecisionMade not in Metrics.events
