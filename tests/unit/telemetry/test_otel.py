"""OpenTelemetry spans follow the GenAI semantic conventions.

Attribute names from https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/.
"""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from laneway.events import AttemptFinished, RequestFinished
from laneway.telemetry.otel import build_tracer
from laneway.types import Attempt, ModelRef, RoutingDecision, TaskContext, Usage

OPUS = ModelRef("anthropic", "opus")
GLM = ModelRef("zai", "glm")


def test_one_request_span_with_one_child_per_attempt() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = build_tracer(True, provider)
    assert tracer is not None
    ctx = TaskContext(lane="coding", user_id="alice")
    tracer(AttemptFinished("r1", 100.1, Attempt(OPUS, "timeout", 1, 100.0)))
    tracer(AttemptFinished("r1", 100.9, Attempt(GLM, "success", 1, 800.0)))
    decision = RoutingDecision(OPUS, (GLM,), "rule", "static")
    tracer(
        RequestFinished(
            "r1", 101.0, ctx, "success", 1000.0, decision=decision, model=GLM, usage=Usage(12, 34)
        )
    )

    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat anthropic/opus", "chat opus", "chat glm"}
    request = spans["chat anthropic/opus"]
    assert request.attributes is not None
    assert request.attributes["gen_ai.request.model"] == "opus"
    assert request.attributes["gen_ai.response.model"] == "glm"
    assert request.attributes["gen_ai.provider.name"] == "zai"
    assert request.attributes["gen_ai.usage.input_tokens"] == 12
    assert request.attributes["gen_ai.usage.output_tokens"] == 34
    assert "alice" not in str(dict(request.attributes))
    assert (request.start_time, request.end_time) == (100_000_000_000, 101_000_000_000)
    failed = spans["chat opus"]
    assert failed.parent is not None
    assert failed.parent.span_id == request.context.span_id
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "timeout"
    assert failed.end_time is not None
    assert failed.start_time is not None
    assert failed.end_time - failed.start_time == 100_000_000


def test_disabled_tracing_builds_nothing() -> None:
    assert build_tracer(False) is None
