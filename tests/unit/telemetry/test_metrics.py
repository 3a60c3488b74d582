"""Prometheus metrics from engine events, read back through the exposition format."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from laneway.clock import FakeClock
from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    RoutingCall,
)
from laneway.telemetry import metrics as metrics_module
from laneway.telemetry.metrics import Metrics, render_metrics
from laneway.types import Attempt, ModelRef, RoutingDecision, TaskContext, Usage

OPUS = ModelRef("anthropic", "opus")
GLM = ModelRef("zai", "glm")
CTX = TaskContext(lane="coding", user_id="alice-user-id", job_id="job-secret-77")


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def run_fallback_request(metrics: Metrics, rid: str = "r1") -> None:
    metrics(RequestStarted(rid, 1.0, CTX, "0" * 64))
    metrics(AttemptFinished(rid, 1.1, Attempt(OPUS, "rate_limit", 1, 100.0)))
    metrics(RetryScheduled(rid, 1.1, OPUS, "rate_limit", 0.5))
    metrics(AttemptFinished(rid, 2.0, Attempt(GLM, "success", 1, 700.0)))
    decision = RoutingDecision(OPUS, (GLM,), "rule 0", "static", rule_index=0)
    metrics(
        RequestFinished(
            rid,
            2.0,
            CTX,
            "success",
            1000.0,
            decision=decision,
            model=GLM,
            usage=Usage(120, 30, 0.004),
        )
    )


def test_a_fallback_request_updates_every_family() -> None:
    metrics = Metrics()
    run_fallback_request(metrics)
    got = samples(metrics)
    glm = (("lane", "coding"), ("model", "glm"), ("provider", "zai"))
    assert got[("laneway_requests_total", (*glm, ("status", "success")))] == 1
    assert (
        got[
            (
                "laneway_attempts_total",
                (
                    ("code", "rate_limit"),
                    ("lane", "coding"),
                    ("model", "opus"),
                    ("provider", "anthropic"),
                ),
            )
        ]
        == 1
    )
    assert (
        got[
            (
                "laneway_retries_total",
                (
                    ("code", "rate_limit"),
                    ("lane", "coding"),
                    ("model", "opus"),
                    ("provider", "anthropic"),
                ),
            )
        ]
        == 1
    )
    assert got[("laneway_fallbacks_total", (("lane", "coding"),))] == 1
    assert got[("laneway_tokens_total", (("direction", "input"), *glm))] == 120
    assert got[("laneway_cost_usd_total", glm)] == 0.004
    assert (
        got[
            (
                "laneway_request_duration_seconds_bucket",
                (("lane", "coding"), ("le", "1.0"), ("status", "success")),
            )
        ]
        == 1
    )
    assert got[("laneway_requests_in_flight", ())] == 0


def test_breaker_and_routing_call_metrics() -> None:
    metrics = Metrics()
    metrics(BreakerChanged(1.0, OPUS, "closed", "open"))
    metrics(
        RoutingCall(
            "r", 1.0, ModelRef("anthropic", "haiku"), "used", "ok", cost_usd=0.002, latency_ms=300.0
        )
    )
    got = samples(metrics)
    assert got[("laneway_breaker_state", (("model", "opus"), ("provider", "anthropic")))] == 2
    assert got[("laneway_routing_calls_total", (("status", "used"),))] == 1
    assert got[("laneway_routing_cost_usd_total", ())] == 0.002
    metrics(BreakerChanged(2.0, OPUS, "open", "half_open"))
    assert (
        samples(metrics)[("laneway_breaker_state", (("model", "opus"), ("provider", "anthropic")))]
        == 1
    )


def test_each_instance_owns_its_registry_and_no_user_labels() -> None:
    first, second = Metrics(), Metrics()
    run_fallback_request(first)
    body = first.render()[0].decode()
    assert "laneway_requests_total" in body
    assert "alice-user-id" not in body
    assert "job-secret-77" not in body
    assert "user" not in {label for key in samples(first) for label, _ in key[1]}
    assert not any(name == "laneway_requests_total" for name, _ in samples(second))


def test_samples_match_prometheus_client_semantics() -> None:
    """Counts live in plain lists; the exposition still reads like prometheus_client's own."""
    clock = FakeClock()
    metrics = Metrics(clock=clock)
    metrics(RequestStarted("r1", 1.0, CTX, "0" * 64))
    metrics(AttemptFinished("r1", 1.0, Attempt(OPUS, "success", 1, 50.0)))  # exactly on le=0.05
    metrics(RequestFinished("r1", 1.0, CTX, "success", 120_000.5, model=OPUS))  # past the last
    got = samples(metrics)
    opus = (("lane", "coding"), ("model", "opus"), ("provider", "anthropic"))
    attempt_bucket = "laneway_attempt_duration_seconds_bucket"
    assert got[(attempt_bucket, (*opus[:1], ("le", "0.05"), *opus[1:]))] == 1
    assert got[("laneway_attempt_duration_seconds_count", opus)] == 1
    assert got[("laneway_attempt_duration_seconds_sum", opus)] == 0.05
    request = (("lane", "coding"), ("status", "success"))
    bucket = "laneway_request_duration_seconds_bucket"
    assert got[(bucket, (request[0], ("le", "120.0"), request[1]))] == 0
    assert got[(bucket, (request[0], ("le", "+Inf"), request[1]))] == 1
    # a series exists once touched, even by 0 tokens; cost only once something was spent
    assert got[("laneway_tokens_total", (("direction", "output"), *opus))] == 0
    assert not any(name == "laneway_cost_usd_total" for name, _ in got)
    # `_created` is when the series first appeared, for counters and histograms alike
    assert got[("laneway_requests_created", (*opus, ("status", "success")))] == clock.wall()
    assert got[("laneway_request_duration_seconds_created", request)] == clock.wall()


def test_unlabelled_metrics_exist_before_any_event() -> None:
    got = samples(Metrics())
    assert got[("laneway_routing_cost_usd_total", ())] == 0
    assert got[("laneway_routing_call_duration_seconds_count", ())] == 0
    assert got[("laneway_requests_in_flight", ())] == 0
    families = {
        family.name: family.type
        for family in text_string_to_metric_families(Metrics().render()[0].decode())
    }
    assert families["laneway_requests"] == "counter"
    assert families["laneway_breaker_state"] == "gauge"
    assert families["laneway_attempt_duration_seconds"] == "histogram"


def test_in_flight_counts_requests_started_and_not_finished() -> None:
    metrics = Metrics()
    for rid in ("a", "b", "b"):  # a repeated id is one request in flight, never a leak
        metrics(RequestStarted(rid, 1.0, CTX, "0" * 64))
    assert samples(metrics)[("laneway_requests_in_flight", ())] == 2
    for rid in ("a", "b", "b"):
        metrics(RequestFinished(rid, 2.0, CTX, "success", 10.0, model=OPUS))
    got = samples(metrics)
    assert got[("laneway_requests_in_flight", ())] == 0
    assert (
        got[
            (
                "laneway_requests_total",
                (
                    ("lane", "coding"),
                    ("model", "opus"),
                    ("provider", "anthropic"),
                    ("status", "success"),
                ),
            )
        ]
        == 3
    )


def test_memory_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_IN_FLIGHT", 4)
    monkeypatch.setattr(metrics_module, "_MAX_SERIES", 3)
    metrics = Metrics()
    for n in range(10):  # started, never finished
        metrics(RequestStarted(f"r{n}", 1.0, CTX, "0" * 64))
    assert samples(metrics)[("laneway_requests_in_flight", ())] <= 4
    for n in range(10):  # more models than series allowed: the rest share one overflow series
        metrics(RetryScheduled("r9", 1.0, ModelRef("p", f"m{n}"), "timeout", 0.1))
    retries = {
        labels: value
        for (name, labels), value in samples(metrics).items()
        if name == "laneway_retries_total"
    }
    assert len(retries) == 4
    assert sum(retries.values()) == 10
    overflow = tuple((label, "_overflow") for label in ("code", "lane", "model", "provider"))
    assert retries[overflow] == 7


def test_collects_into_a_given_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    run_fallback_request(metrics)
    assert metrics.registry is registry
    assert b'laneway_fallbacks_total{lane="coding"} 1.0' in generate_latest(registry)
    assert render_metrics(metrics) == metrics.render()
