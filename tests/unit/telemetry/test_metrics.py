"""Prometheus metrics from engine events, read back through the exposition format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    RoutingCall,
)
from laneway.telemetry.metrics import Metrics
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
