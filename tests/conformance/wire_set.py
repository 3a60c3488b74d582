"""The shape of a provider kind's fixture set for the conformance suite (`test_providers.py`).

A set says, in that provider's documented wire format, what one canonical
request must look like, what its answers and streams hold, and how its error
bodies classify. The three sets are `wire_openai.py`, `wire_anthropic.py` and
`wire_gemini.py`; each cites its sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from laneway.errors import ErrorCode
from laneway.types import (
    CompletionRequest,
    Delta,
    FinishReason,
    Message,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"

#: the one request every kind must translate (the caller's words, no tools)
REQUEST = CompletionRequest(
    messages=(Message("system", "Be terse."), Message("user", "Hi")),
    temperature=0.2,
    top_p=0.9,
    max_tokens=256,
    stop=("END",),
)


@dataclass(frozen=True)
class Answer:
    """What parsing one 200 body must give."""

    fixture: str
    content: str
    finish: FinishReason
    tokens: tuple[int, int]  # input, output
    #: the first tool call: id (None: synthesized, any non-empty id), name, arguments
    call: tuple[str | None, str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class ErrorCase:
    """One error answer and the classification it must get."""

    id: str
    response: Callable[[], httpx.Response]
    code: ErrorCode
    retryable: bool
    retry_after_s: float | None = None


@dataclass(frozen=True)
class StreamCut:
    """A stream body that breaks off, and the error delta it must end with."""

    id: str
    body: bytes
    code: ErrorCode
    text_before: tuple[str, ...]  # the text deltas that come first
    drop_connection: bool = False  # the connection is reset after `body`


@dataclass(frozen=True)
class Wire:
    """A provider kind's fixture set."""

    kind: str
    adapter: Callable[..., Any]
    spec: Callable[..., Any]
    key_env: str
    key: str
    model: str
    url: str
    stream_url: str
    key_header: str
    key_prefix: str
    request_body: dict[str, Any]
    stream_extra: dict[str, Any]  # what a stream request adds to the body
    text: Answer
    tool: Answer
    stream_fixture: str
    stream_deltas: tuple[Delta, ...]
    tool_stream: Answer
    errors: tuple[ErrorCase, ...]
    malformed: tuple[tuple[str, bytes, str], ...]  # id, body, words the message must hold
    cuts: tuple[StreamCut, ...]
    stream_refusal: Callable[[], httpx.Response]  # a status error before any delta
    stream_refusal_retry_after_s: float
    #: the kind's 401 body around a given message
    unauthorized: Callable[[str], httpx.Response]

    def fixture(self, name: str) -> bytes:
        return (FIXTURES / self.kind / name).read_bytes()

    def ok(self, name: str) -> httpx.Response:
        return httpx.Response(200, content=self.fixture(name))

    def sse(self, body: bytes) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def fixture_text(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / name).read_bytes()


def first_events(kind: str, name: str, count: int) -> bytes:
    """The first `count` SSE events of a stream fixture, each with its blank line."""
    events = fixture_text(kind, name).replace(b"\r\n", b"\n").split(b"\n\n")
    return b"".join(event + b"\n\n" for event in events[:count])
