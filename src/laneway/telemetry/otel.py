"""OpenTelemetry spans for requests and attempts (extra `laneway[otel]`).

One span per request and one child span per provider attempt, named and
attributed after the GenAI semantic conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/):
`gen_ai.operation.name`, `gen_ai.provider.name` (and the older `gen_ai.system`),
`gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.usage.input_tokens`,
`gen_ai.usage.output_tokens`, `error.type`.

Spans are built from events after the fact, with explicit start and end times
taken from the events, so this subscriber never touches the engine's context
or its timing: attempts are buffered per request and emitted with their request
span when `RequestFinished` arrives. No user id, content or key is attached.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from laneway.events import AttemptFinished, Event, RequestFinished

_MAX_IN_FLIGHT = 10_000
_NS = 1_000_000_000


def is_available() -> bool:
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


class OtelTracer:
    """An event subscriber that records spans through `tracer_provider` (default: the global)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        from opentelemetry import trace

        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self._tracer = provider.get_tracer("laneway")
        self._attempts: OrderedDict[str, list[AttemptFinished]] = OrderedDict()

    def __call__(self, event: Event) -> None:
        if isinstance(event, AttemptFinished):
            self._attempts.setdefault(event.request_id, []).append(event)
            if len(self._attempts) > _MAX_IN_FLIGHT:
                self._attempts.popitem(last=False)
        elif isinstance(event, RequestFinished):
            self._emit(event, self._attempts.pop(event.request_id, []))

    def _emit(self, event: RequestFinished, attempts: list[AttemptFinished]) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode

        requested = event.decision.model if event.decision is not None else event.model
        start = int((event.ts - event.duration_ms / 1000) * _NS)
        span = self._tracer.start_span(
            f"chat {requested}" if requested else "chat",
            kind=SpanKind.INTERNAL,
            start_time=start,
            attributes=_request_attributes(event),
        )
        if event.status != "success":
            span.set_status(Status(StatusCode.ERROR, event.status))
        parent = trace.set_span_in_context(span)
        for item in attempts:
            a = item.attempt
            if a.skipped:
                continue
            end = int(item.ts * _NS)
            child = self._tracer.start_span(
                f"chat {a.model.model}",
                context=parent,
                kind=SpanKind.CLIENT,
                start_time=end - int(a.elapsed_ms / 1000 * _NS),
                attributes=_attempt_attributes(item),
            )
            if not a.ok:
                child.set_status(Status(StatusCode.ERROR, a.code))
            child.end(end_time=end)
        span.end(end_time=int(event.ts * _NS))


def _request_attributes(event: RequestFinished) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "laneway.lane": event.context.lane,
        "laneway.request_id": event.request_id,
        "laneway.status": event.status,
        "laneway.trace": list(event.trace),
        "gen_ai.usage.input_tokens": event.usage.input_tokens,
        "gen_ai.usage.output_tokens": event.usage.output_tokens,
    }
    if event.decision is not None:
        attrs["gen_ai.request.model"] = event.decision.model.model
        attrs["laneway.decision.method"] = event.decision.method
    if event.model is not None:
        attrs["gen_ai.provider.name"] = event.model.provider
        attrs["gen_ai.system"] = event.model.provider
        attrs["gen_ai.response.model"] = event.model.model
    if event.error_code:
        attrs["error.type"] = event.error_code
    if event.usage.cost_usd is not None:
        attrs["laneway.cost_usd"] = event.usage.cost_usd
    return attrs


def _attempt_attributes(item: AttemptFinished) -> dict[str, Any]:
    a = item.attempt
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": a.model.provider,
        "gen_ai.system": a.model.provider,
        "gen_ai.request.model": a.model.model,
        "laneway.request_id": item.request_id,
        "laneway.attempt": a.attempt,
        "laneway.attempt.code": a.code,
    }
    if not a.ok:
        attrs["error.type"] = a.code
    return attrs


def build_tracer(enabled: bool, tracer_provider: Any = None) -> OtelTracer | None:
    """The span subscriber when `telemetry.otel` is on and opentelemetry is installed."""
    if not enabled or not is_available():
        return None
    return OtelTracer(tracer_provider)
