"""Prometheus metrics fed by engine events, counted in plain lists and rendered at scrape time.

`Metrics` is an event subscriber (`gw.subscribe(metrics)`); `render()` gives the
`/metrics` body and content type. No module-level registry: two gateways in one
process (or two tests) never share counters. Labels are lane, provider, model,
status and error code only, all bounded by the config; never a user, job or key.

Attempt events carry no lane, so the subscriber remembers each in-flight
request's lane from `RequestStarted` until `RequestFinished` (bounded).

Why no prometheus_client objects on the request path: each `labels()`,
`inc()` and `observe()` validates and takes a lock, and that was most of this
subscriber's cost per request. Every series is a `list[float]` cell here (a
counter or gauge: `[value]`; a histogram: bucket counts, +Inf last, then the
sum), and the handlers keep the cells a request touches in one record per label
tuple, so a request builds one key and hashes it once per event.
prometheus_client only sees these numbers when `/metrics` is scraped, through
this object's `collect()` (docs/performance.md, `## Server`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal, TypeVar

from laneway.clock import Clock, SystemClock
from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    BudgetChanged,
    CandidateSkipped,
    Event,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    RoutingCall,
)
from laneway.types import Attempt, ModelRef

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_MAX_IN_FLIGHT = 100_000
#: series per metric; labels are bounded by config, this only guards against surprises
#: (a caller pinning made-up models): further label sets are counted under `_OVERFLOW`
_MAX_SERIES = 10_000
_OVERFLOW = "_overflow"

Kind = Literal["counter", "gauge", "histogram"]
Key = tuple[str, ...]
_K = TypeVar("_K")
_V = TypeVar("_V")


class _Family:
    """One metric: its series (label values -> cell) and when each was created."""

    __slots__ = ("created", "doc", "kind", "labels", "name", "series", "wall", "width")

    def __init__(
        self, name: str, doc: str, kind: Kind, labels: Key, wall: Callable[[], float]
    ) -> None:
        self.name, self.doc, self.kind, self.labels, self.wall = name, doc, kind, labels, wall
        self.width = len(LATENCY_BUCKETS_S) + 2 if kind == "histogram" else 1
        self.series: dict[Key, list[float]] = {}
        self.created: dict[Key, float] = {}

    def cell(self, key: Key) -> list[float]:
        """The series of `key`, created on first use (the rare path: handlers cache cells)."""
        cell = self.series.get(key)
        if cell is None:
            if len(self.series) >= _MAX_SERIES:
                key = (_OVERFLOW,) * len(self.labels)
                cell = self.series.get(key)
            if cell is None:
                self.created[key] = self.wall()  # first: a scrape may read `series` meanwhile
                cell = self.series[key] = [0.0] * self.width
        return cell

    def export(self, *, created: bool) -> Any:
        """The prometheus_client family with a sample per series (scrape time only)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
        from prometheus_client.samples import Sample

        labels = list(self.labels)
        series = list(self.series.items())  # a snapshot: a scrape may run on another thread
        if self.kind == "gauge":
            gauge = GaugeMetricFamily(self.name, self.doc, labels=labels)
            for key, cell in series:
                gauge.add_metric(key, cell[0])
            return gauge
        if self.kind == "counter":
            counter = CounterMetricFamily(self.name, self.doc, labels=labels)
            for key, cell in series:
                counter.add_metric(key, cell[0], created=self.created[key] if created else None)
            return counter
        histogram = HistogramMetricFamily(self.name, self.doc, labels=labels)
        for key, cell in series:
            cumulative, buckets = 0.0, []
            for bound, count in zip(_BUCKET_LABELS, cell, strict=False):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric(key, buckets, sum_value=cell[-1])
            if created:  # HistogramMetricFamily has no `created`; same sample as a Histogram's
                label_values = dict(zip(self.labels, key, strict=True))
                histogram.samples.append(
                    Sample(f"{self.name}_created", label_values, self.created[key])
                )
        return histogram


class _Finished:
    """The cells one kind of finished request (lane, provider, model, status) updates."""

    __slots__ = ("cost", "fallbacks", "latency", "requests", "tokens_in", "tokens_out")

    def __init__(self, metrics: Metrics, key: Key) -> None:
        lane, provider, model, status = key
        self.requests = metrics.requests.cell(key)
        self.latency = metrics.request_latency.cell((lane, status))
        self.tokens_in = metrics.tokens.cell((lane, provider, model, "input"))
        self.tokens_out = metrics.tokens.cell((lane, provider, model, "output"))
        # created on first use, as the series only exist once something was counted
        self.cost: list[float] | None = None
        self.fallbacks: list[float] | None = None


class Metrics:
    """Counters, gauges and histograms for one gateway (see docs/audit.md for the list)."""

    events: ClassVar[frozenset[type]]  # set below, from the handlers

    def __init__(
        self, *, namespace: str = "laneway", registry: Any = None, clock: Clock | None = None
    ) -> None:
        from prometheus_client import CollectorRegistry

        wall = (clock or SystemClock()).wall  # for `_created`, as prometheus_client's time.time()

        def family(name: str, doc: str, kind: Kind, labels: Key = ()) -> _Family:
            return _Family(f"{namespace}_{name}" if namespace else name, doc, kind, labels, wall)

        model_labels = ("lane", "provider", "model")
        self.requests = family(
            "requests", "Requests by final status.", "counter", (*model_labels, "status")
        )
        self.attempts = family(
            "attempts", "Provider attempts by outcome code.", "counter", (*model_labels, "code")
        )
        self.fallbacks = family(
            "fallbacks", "Requests served by or moved to a fallback model.", "counter", ("lane",)
        )
        self.retries = family(
            "retries", "Retries scheduled on the same model.", "counter", (*model_labels, "code")
        )
        self.skips = family(
            "skips", "Candidates skipped before a call.", "counter", (*model_labels, "reason")
        )
        self.tokens = family(
            "tokens",
            "Tokens by direction (input, output).",
            "counter",
            (*model_labels, "direction"),
        )
        self.cost = family("cost_usd", "Spend in USD.", "counter", model_labels)
        self.breaker_transitions = family(
            "breaker_transitions",
            "Breaker state changes.",
            "counter",
            ("provider", "model", "state"),
        )
        self.budget = family("budget_usd", "Budget movements in USD.", "counter", ("action",))
        self.routing_calls = family(
            "routing_calls", "llm_enhanced routing calls.", "counter", ("status",)
        )
        self.routing_cost = family(
            "routing_cost_usd", "llm_enhanced routing spend in USD.", "counter"
        )
        self.breaker_state = family(
            "breaker_state", "0 closed, 1 half_open, 2 open.", "gauge", ("provider", "model")
        )
        self.in_flight = family("requests_in_flight", "Requests started, not finished.", "gauge")
        self.request_latency = family(
            "request_duration_seconds", "Request latency.", "histogram", ("lane", "status")
        )
        self.attempt_latency = family(
            "attempt_duration_seconds", "Attempt latency.", "histogram", model_labels
        )
        self.routing_latency = family(
            "routing_call_duration_seconds", "Routing call latency.", "histogram"
        )
        # in the order prometheus_client's own metrics were registered (and rendered)
        self._families = (
            self.requests,
            self.attempts,
            self.fallbacks,
            self.retries,
            self.skips,
            self.tokens,
            self.cost,
            self.breaker_transitions,
            self.budget,
            self.routing_calls,
            self.routing_cost,
            self.breaker_state,
            self.in_flight,
            self.request_latency,
            self.attempt_latency,
            self.routing_latency,
        )
        # unlabelled metrics exist from the start, as prometheus_client's do
        self._routing_cost = self.routing_cost.cell(())
        self._routing_latency = self.routing_latency.cell(())
        self._in_flight = self.in_flight.cell(())
        self._lanes: dict[str, str] = {}  # request id -> lane, insertion ordered
        self._finished: dict[Key, _Finished] = {}
        self._attempted: dict[tuple[str, str, str, str, bool], _Attempted] = {}
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.registry.register(self)

    def __call__(self, event: Event) -> None:
        """The subscriber: update what `event` changes. Cheap, never blocks."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def render(self) -> tuple[bytes, str]:
        """The `/metrics` response body and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- prometheus_client collector protocol (scrape time) ----------------------------------

    def collect(self) -> Iterator[Any]:
        """Every family with its samples, read from the cells."""
        from prometheus_client import metrics as client

        # honours PROMETHEUS_DISABLE_CREATED_SERIES / disable_created_metrics() as the
        # library's own metrics do
        created = bool(getattr(client, "_use_created", True))
        self._in_flight[0] = float(len(self._lanes))
        for family in self._families:
            yield family.export(created=created)

    # -- handlers ------------------------------------------------------------------------------

    def _on_started(self, event: RequestStarted) -> None:
        lanes = self._lanes
        lanes[event.request_id] = event.context.lane
        if len(lanes) > _MAX_IN_FLIGHT:
            self._forget_oldest_lanes()

    def _forget_oldest_lanes(self) -> None:
        """Drop the older half of requests never finished: amortised O(1), memory bounded."""
        kept = list(self._lanes.items())[len(self._lanes) // 2 :]
        self._lanes = dict(kept)

    def _on_finished(self, event: RequestFinished) -> None:
        self._lanes.pop(event.request_id, None)
        lane = event.context.lane
        served = event.model
        if served is None:
            provider = model = "-"
        else:
            provider, model = served.provider, served.model
        key = (lane, provider, model, event.status)
        cells = self._finished.get(key)
        if cells is None:
            cells = self._remember(self._finished, key, _Finished(self, key))
        cells.requests[0] += 1.0
        seconds = event.duration_ms / 1000
        latency = cells.latency
        latency[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1.0  # see _observe
        latency[-1] += seconds
        decision = event.decision
        if decision is not None and _moved(decision.model, served, event.attempts):
            fallbacks = cells.fallbacks
            if fallbacks is None:
                fallbacks = cells.fallbacks = self.fallbacks.cell((lane,))
            fallbacks[0] += 1.0
        usage = event.usage
        cells.tokens_in[0] += usage.input_tokens
        cells.tokens_out[0] += usage.output_tokens
        if usage.cost_usd:
            cost = cells.cost
            if cost is None:
                cost = cells.cost = self.cost.cell((lane, provider, model))
            cost[0] += usage.cost_usd

    def _on_attempt(self, event: AttemptFinished) -> None:
        attempt = event.attempt
        ref = attempt.model
        key = (
            self._lanes.get(event.request_id, "-"),
            ref.provider,
            ref.model,
            attempt.code,
            attempt.skipped,
        )
        cells = self._attempted.get(key)
        if cells is None:
            cells = self._remember(self._attempted, key, self._attempt_cells(key))
        cells[0][0] += 1.0
        latency = cells[1]
        if latency is not None:
            seconds = attempt.elapsed_ms / 1000
            latency[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1.0  # see _observe
            latency[-1] += seconds

    def _attempt_cells(self, key: tuple[str, str, str, str, bool]) -> _Attempted:
        lane, provider, model, code, skipped = key
        count = self.attempts.cell((lane, provider, model, code))
        return count, None if skipped else self.attempt_latency.cell((lane, provider, model))

    def _on_retry(self, event: RetryScheduled) -> None:
        lane = self._lanes.get(event.request_id, "-")
        self.retries.cell((lane, event.model.provider, event.model.model, event.code))[0] += 1.0

    def _on_skip(self, event: CandidateSkipped) -> None:
        lane = self._lanes.get(event.request_id, "-")
        self.skips.cell((lane, event.model.provider, event.model.model, event.reason))[0] += 1.0

    def _on_breaker(self, event: BreakerChanged) -> None:
        provider, model = event.model.provider, event.model.model
        self.breaker_state.cell((provider, model))[0] = BREAKER_VALUES.get(event.new, 0.0)
        self.breaker_transitions.cell((provider, model, event.new))[0] += 1.0

    def _on_budget(self, event: BudgetChanged) -> None:
        self.budget.cell((event.action,))[0] += max(event.amount_usd, 0.0)

    def _on_routing_call(self, event: RoutingCall) -> None:
        self.routing_calls.cell((event.status,))[0] += 1.0
        if event.cost_usd:
            self._routing_cost[0] += event.cost_usd
        if event.status == "used":
            _observe(self._routing_latency, event.latency_ms / 1000)

    @staticmethod
    def _remember(cache: dict[_K, _V], key: _K, cells: _V) -> _V:
        """Cache `cells` under `key`; the cache is bounded like the series it points to."""
        if len(cache) >= _MAX_SERIES:
            cache.clear()
        cache[key] = cells
        return cells


#: an attempt's counter cell, and its latency histogram (None when it was skipped)
_Attempted = tuple[list[float], list[float] | None]

#: the `le` label of each bucket, +Inf last (as prometheus_client formats them)
_BUCKET_LABELS = (*(repr(bound) for bound in LATENCY_BUCKETS_S), "+Inf")


def _observe(histogram: list[float], seconds: float) -> None:
    # bisect_left: the first bound >= seconds, i.e. prometheus' `le` bucket
    histogram[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1.0
    histogram[-1] += seconds


def _moved(decided: ModelRef, served: ModelRef | None, attempts: tuple[Attempt, ...]) -> bool:
    """Whether the request was served by, or tried, another model than the decided one."""
    # fields compared, not refs: `Completion.model_ref` is a new ModelRef each time, and a
    # dataclass __eq__ is a Python call
    provider, model = decided.provider, decided.model
    if served is not None and (served.model != model or served.provider != provider):
        return True
    for attempt in attempts:
        tried = attempt.model
        if (tried.model != model or tried.provider != provider) and not attempt.skipped:
            return True
    return False


_HANDLERS: dict[type, Any] = {
    RequestStarted: Metrics._on_started,
    RequestFinished: Metrics._on_finished,
    AttemptFinished: Metrics._on_attempt,
    RetryScheduled: Metrics._on_retry,
    CandidateSkipped: Metrics._on_skip,
    BreakerChanged: Metrics._on_breaker,
    BudgetChanged: Metrics._on_budget,
    RoutingCall: Metrics._on_routing_call,
}


#: the events it takes (`EventBus.wants`): DecisionMade, for one, is not built for it
Metrics.events = frozenset(_HANDLERS)


def render_metrics(metrics: Metrics) -> tuple[bytes, str]:
    """`/metrics` for the server: body bytes and content type."""
    return metrics.render()
