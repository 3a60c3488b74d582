"""Streaming fallback: fall back like `complete` until the first content delta; never mix models.

The last test streams over the real adapters: an Anthropic 529 `overloaded_error`
(anthropic-wire-format.md "Errors") and then Chat Completions SSE chunks
(tests/fixtures/openai/stream_text.sse, from openai-openapi.yaml's "Streaming" example).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from engine_scenario import (
    ANTHROPIC_HOST,
    FIXTURES,
    KEYS,
    REAL_PROVIDERS,
    ZAI_HOST,
    CutStream,
    Events,
    Upstream,
    anthropic_error,
    ask,
    config,
    fake,
    gateway,
)

from laneway.errors import ErrorCode, RoutingExhaustedError
from laneway.events import RequestFinished
from laneway.types import (
    ErrorDelta,
    ModelRef,
    StreamDone,
    StreamEvent,
    StreamOpened,
    TaskContext,
    TextDelta,
)

A, B = ModelRef("f", "a"), ModelRef("f", "b")
CTX = TaskContext(lane="work")


def lanes(**lane: Any) -> dict[str, Any]:
    return config(
        {"work": {"primary": "f/a", "fallback": ["f/b"], **lane}},
        retry={"unavailable": {"retries": 0}, "network": {"retries": 0}},
    )


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize(
    "failure",
    [
        {"error_code": "unavailable", "status": 503},
        {"stream_chunks": ["never", "sent"], "cut_after": 0},
    ],
    ids=["error-before-stream", "cut-before-first-delta"],
)
async def test_a_stream_failing_before_its_first_delta_falls_back(failure: Any) -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", **failure)
    fake(gw).enqueue("b", stream_chunks=["from ", "b"])

    events = [e async for e in gw.stream(ask(), CTX)]

    opened = events[0]
    assert isinstance(opened, StreamOpened)
    assert opened.model == B
    code = "unavailable" if "error_code" in failure else "network"
    assert opened.trace == (f"f/a:{code}", "f/b:streaming")
    assert text_of(events) == "from b"  # nothing of a's
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.model_ref == B
    assert done.completion.content == "from b"
    assert done.completion.trace == (f"f/a:{code}", "f/b:success")


async def test_a_stream_cut_after_its_first_delta_ends_with_an_error_event() -> None:
    gw = gateway(lanes())
    listener = Events()
    gw.subscribe(listener)
    fake(gw).enqueue("a", stream_chunks=["Hel", "lo", " world"], cut_after=1)
    fake(gw).enqueue("b", text="b must not speak")

    events = [e async for e in gw.stream(ask(), CTX)]

    assert [type(e).__name__ for e in events] == ["StreamOpened", "TextDelta", "ErrorDelta"]
    assert text_of(events) == "Hel"
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code is ErrorCode.NETWORK
    assert error.trace == ("f/a:network",)
    assert [m for m, _ in fake(gw).calls] == ["a"]  # never a second model
    [finished] = listener.of(RequestFinished)
    assert (finished.status, finished.error_code) == ("failed", "network")
    assert finished.trace == ("f/a:network",)  # the audit row keeps the story
    assert [a.code for a in finished.attempts] == ["network"]
    assert finished.decision is not None
    assert finished.decision.model == A


async def test_every_stream_failing_before_a_delta_raises_like_complete() -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", error_code="unavailable")
    fake(gw).enqueue("b", error_code="network")

    with pytest.raises(RoutingExhaustedError) as caught:
        _ = [e async for e in gw.stream(ask(), CTX)]

    assert caught.value.trace == ("f/a:unavailable", "f/b:network")


async def test_a_pii_leak_in_a_stream_ends_it_with_an_error_event() -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", stream_chunks=["mail ", "me at x@y.example"])
    events = [e async for e in gw.stream(ask(), CTX)]
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code is ErrorCode.PII_LEAK
    assert not any(isinstance(e, StreamDone) for e in events)


async def test_streaming_over_real_adapters_falls_back_from_anthropic_to_glm() -> None:
    upstream = Upstream()
    upstream.queue(ANTHROPIC_HOST, anthropic_error(529, "overloaded_error", "Overloaded"))
    sse = (FIXTURES / "openai" / "stream_text.sse").read_bytes()
    upstream.queue(
        ZAI_HOST, httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})
    )
    cfg = config(
        {"work": {"primary": "anthropic/claude-opus-4-5", "fallback": ["zai/glm-4.7"]}},
        providers=REAL_PROVIDERS,
        retry={"unavailable": {"retries": 0}},
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        events = [e async for e in gw.stream(ask(), CTX)]

    assert isinstance(events[0], StreamOpened)
    assert events[0].model == ModelRef("zai", "glm-4.7")
    assert text_of(events) == "Hello there"
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert done.completion.trace == ("anthropic/claude-opus-4-5:unavailable", "zai/glm-4.7:success")
    assert (done.completion.usage.input_tokens, done.completion.usage.output_tokens) == (9, 2)
    assert upstream.hosts() == [ANTHROPIC_HOST, ZAI_HOST]


async def test_a_real_anthropic_stream_cut_mid_way_ends_with_an_error_event() -> None:
    """anthropic-wire-format.md "Streaming": message_start, content_block_start, then
    content_block_delta events; here the connection drops after the first text delta."""
    lines = (FIXTURES / "anthropic" / "stream_text.sse").read_bytes().split(b"\n\n")
    first_delta = next(i for i, e in enumerate(lines) if b"text_delta" in e)
    head = b"\n\n".join(lines[: first_delta + 1]) + b"\n\n"
    upstream = Upstream()
    upstream.queue(
        ANTHROPIC_HOST,
        httpx.Response(200, stream=CutStream(head), headers={"content-type": "text/event-stream"}),
    )
    cfg = config(
        {"work": {"primary": "anthropic/claude-opus-4-5", "fallback": ["zai/glm-4.7"]}},
        providers=REAL_PROVIDERS,
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        events = [e async for e in gw.stream(ask(), CTX)]

    assert [type(e).__name__ for e in events] == ["StreamOpened", "TextDelta", "ErrorDelta"]
    assert text_of(events) == "Hello"
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.trace == (f"anthropic/claude-opus-4-5:{error.error.code.value}",)
    assert upstream.hosts() == [ANTHROPIC_HOST]  # no second model after the first token
