"""Prometheus metrics fed by engine events, in a registry this object owns.

`Metrics` is an event subscriber (`gw.subscribe(metrics)`); `render()` gives the
`/metrics` body and content type. No module-level registry: two gateways in one
process (or two tests) never share counters. Labels are lane, provider, model,
status and error code only, all bounded by the config; never a user, job or key.

Attempt events carry no lane, so the subscriber remembers each in-flight
request's lane from `RequestStarted` until `RequestFinished` (bounded).

Each labelled child is looked up once and then kept (`_child`): prometheus_client's
`labels()` validates, locks and builds a key on every call, which was most of
this subscriber's cost per request (docs/performance.md, `## Server`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

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
from laneway.types import ModelRef

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
_MAX_IN_FLIGHT = 100_000
_MAX_CHILDREN = 10_000  # labels are bounded by config; this only guards against surprises


class Metrics:
    """Counters, gauges and histograms for one gateway (see docs/audit.md for the list)."""

    def __init__(self, *, namespace: str = "laneway", registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        ns, reg = namespace, self.registry
        model_labels = ("lane", "provider", "model")

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Any:
            return Counter(name, doc, labels, namespace=ns, registry=reg)

        self.requests = counter("requests", "Requests by final status.", (*model_labels, "status"))
        self.attempts = counter(
            "attempts", "Provider attempts by outcome code.", (*model_labels, "code")
        )
        self.fallbacks = counter(
            "fallbacks", "Requests served by or moved to a fallback model.", ("lane",)
        )
        self.retries = counter(
            "retries", "Retries scheduled on the same model.", (*model_labels, "code")
        )
        self.skips = counter(
            "skips", "Candidates skipped before a call.", (*model_labels, "reason")
        )
        self.tokens = counter(
            "tokens", "Tokens by direction (input, output).", (*model_labels, "direction")
        )
        self.cost = counter("cost_usd", "Spend in USD.", model_labels)
        self.breaker_transitions = counter(
            "breaker_transitions", "Breaker state changes.", ("provider", "model", "state")
        )
        self.budget = counter("budget_usd", "Budget movements in USD.", ("action",))
        self.routing_calls = counter("routing_calls", "llm_enhanced routing calls.", ("status",))
        self.routing_cost = counter("routing_cost_usd", "llm_enhanced routing spend in USD.", ())
        self.breaker_state = Gauge(
            "breaker_state",
            "0 closed, 1 half_open, 2 open.",
            ("provider", "model"),
            namespace=ns,
            registry=reg,
        )
        self.in_flight = Gauge(
            "requests_in_flight", "Requests started, not finished.", namespace=ns, registry=reg
        )
        self.request_latency = Histogram(
            "request_duration_seconds",
            "Request latency.",
            ("lane", "status"),
            buckets=LATENCY_BUCKETS_S,
            namespace=ns,
            registry=reg,
        )
        self.attempt_latency = Histogram(
            "attempt_duration_seconds",
            "Attempt latency.",
            model_labels,
            buckets=LATENCY_BUCKETS_S,
            namespace=ns,
            registry=reg,
        )
        self.routing_latency = Histogram(
            "routing_call_duration_seconds",
            "Routing call latency.",
            buckets=LATENCY_BUCKETS_S,
            namespace=ns,
            registry=reg,
        )
        self._lanes: OrderedDict[str, str] = OrderedDict()
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, remembered."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= _MAX_CHILDREN:
                self._children.clear()
            child = self._children[key] = metric.labels(*labels)
        return child

    def __call__(self, event: Event) -> None:
        """The subscriber: update what `event` changes. Cheap, never blocks."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def render(self) -> tuple[bytes, str]:
        """The `/metrics` response body and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def _lane(self, request_id: str) -> str:
        return self._lanes.get(request_id, "-")

    def _on_started(self, event: RequestStarted) -> None:
        self._lanes[event.request_id] = event.context.lane
        if len(self._lanes) > _MAX_IN_FLIGHT:
            self._lanes.popitem(last=False)
        self.in_flight.inc()

    def _on_finished(self, event: RequestFinished) -> None:
        if self._lanes.pop(event.request_id, None) is not None:
            self.in_flight.dec()
        lane = event.context.lane
        provider, model = _labels(event.model)
        self._child(self.requests, lane, provider, model, event.status).inc()
        self._child(self.request_latency, lane, event.status).observe(event.duration_ms / 1000)
        tried = {a.model for a in event.attempts if not a.skipped}
        decided = None if event.decision is None else event.decision.model
        if decided is not None and ((event.model not in (None, decided)) or tried - {decided}):
            self._child(self.fallbacks, lane).inc()
        usage = event.usage
        self._child(self.tokens, lane, provider, model, "input").inc(usage.input_tokens)
        self._child(self.tokens, lane, provider, model, "output").inc(usage.output_tokens)
        if usage.cost_usd:
            self._child(self.cost, lane, provider, model).inc(usage.cost_usd)

    def _on_attempt(self, event: AttemptFinished) -> None:
        a = event.attempt
        lane = self._lane(event.request_id)
        self._child(self.attempts, lane, a.model.provider, a.model.model, a.code).inc()
        if not a.skipped:
            self._child(self.attempt_latency, lane, a.model.provider, a.model.model).observe(
                a.elapsed_ms / 1000
            )

    def _on_retry(self, event: RetryScheduled) -> None:
        lane = self._lane(event.request_id)
        self._child(self.retries, lane, event.model.provider, event.model.model, event.code).inc()

    def _on_skip(self, event: CandidateSkipped) -> None:
        lane = self._lane(event.request_id)
        self._child(self.skips, lane, event.model.provider, event.model.model, event.reason).inc()

    def _on_breaker(self, event: BreakerChanged) -> None:
        self._child(self.breaker_state, event.model.provider, event.model.model).set(
            BREAKER_VALUES.get(event.new, 0.0)
        )
        self._child(
            self.breaker_transitions, event.model.provider, event.model.model, event.new
        ).inc()

    def _on_budget(self, event: BudgetChanged) -> None:
        self._child(self.budget, event.action).inc(max(event.amount_usd, 0.0))

    def _on_routing_call(self, event: RoutingCall) -> None:
        self._child(self.routing_calls, event.status).inc()
        if event.cost_usd:
            self.routing_cost.inc(event.cost_usd)
        if event.status == "used":
            self.routing_latency.observe(event.latency_ms / 1000)


def _labels(ref: ModelRef | None) -> tuple[str, str]:
    return ("-", "-") if ref is None else (ref.provider, ref.model)


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


def render_metrics(metrics: Metrics) -> tuple[bytes, str]:
    """`/metrics` for the server: body bytes and content type."""
    return metrics.render()
