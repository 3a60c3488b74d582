"""One fixture set per HTTP provider kind, for the conformance suite (`test_providers.py`).

Each set says, in that provider's documented wire format, what one canonical
request must look like, what its answers and streams hold, and how its error
bodies classify. Sources:

- OpenAI: tests/specs/openai-chat.prism.yaml (`CreateChatCompletionRequest`,
  `CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`,
  `ErrorResponse`); rate-limit headers per
  https://platform.openai.com/docs/guides/rate-limits ("Rate limits in headers").
- Anthropic: tests/specs/anthropic-messages.prism.json (SPEC: `CreateMessageParams`,
  `Message`, `ErrorResponse`) and tests/specs/anthropic-wire-format.md (NOTES:
  "Request body", "Streaming", "Errors", "Rate-limit and retry headers").
- Gemini: tests/specs/gemini-v1beta-protos/ (`GenerateContentRequest`,
  `GenerateContentResponse`) in proto3 JSON, and tests/specs/gemini-wire-format.md
  (NOTES: "Endpoints and auth", "Streaming", "Errors", "Rate limits and retry").

The bodies under tests/fixtures/<kind>/ are described in each folder's README.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.config.schema import AnthropicProvider, GeminiProvider, OpenAIProvider
from laneway.errors import ErrorCode
from laneway.providers.anthropic import AnthropicAdapter
from laneway.providers.gemini import GeminiAdapter
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import (
    CompletionRequest,
    Delta,
    FinishDelta,
    FinishReason,
    Message,
    TextDelta,
    Usage,
    UsageDelta,
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


# -- OpenAI Chat Completions ---------------------------------------------------------


def openai_error(
    status: int, type_: str, code: str | None, message: str = "see the docs", **headers: str
) -> Callable[[], httpx.Response]:
    """`ErrorResponse`: `{"error": {"message", "type", "param", "code"}}`."""
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return lambda: httpx.Response(status, json=body, headers=headers)


OPENAI_KEY = "sk-test-0123456789abcdefghijklmnop"
RATE = "rate_limit_exceeded"
OPENAI_SERVER_ERROR = {
    "error": {
        "message": "The server had an error",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}

OPENAI = Wire(
    kind="openai",
    adapter=OpenAIAdapter,
    spec=OpenAIProvider,
    key_env="OPENAI_API_KEY",
    key=OPENAI_KEY,
    model="gpt-4o",
    url="https://api.openai.com/v1/chat/completions",
    stream_url="https://api.openai.com/v1/chat/completions",
    key_header="authorization",
    key_prefix="Bearer ",
    request_body={
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 256,
        "stop": ["END"],
    },
    stream_extra={"stream": True, "stream_options": {"include_usage": True}},
    text=Answer(
        "chat_completion.json", "Hello! How can I assist you today?", FinishReason.STOP, (19, 10)
    ),
    tool=Answer(
        "chat_completion_tool_call.json",
        "",
        FinishReason.TOOL_CALLS,
        (82, 17),
        ("call_abc123", "get_current_weather", {"location": "Boston, MA"}),
    ),
    stream_fixture="stream_text.sse",
    stream_deltas=(
        TextDelta("Hello"),
        TextDelta(" there"),
        FinishDelta(FinishReason.STOP),
        UsageDelta(Usage(9, 2)),
    ),
    tool_stream=Answer(
        "stream_tool_call.sse",
        "",
        FinishReason.TOOL_CALLS,
        (0, 0),
        ("call_abc123", "get_current_weather", {"location": "Boston, MA"}),
    ),
    errors=(
        ErrorCase(
            "401-invalid_api_key",
            openai_error(
                401,
                "invalid_request_error",
                "invalid_api_key",
                f"Incorrect API key provided: {OPENAI_KEY}.",
            ),
            ErrorCode.AUTH,
            False,
        ),
        ErrorCase(
            "403-unsupported_region",
            openai_error(403, "request_forbidden", "unsupported_country_region_territory"),
            ErrorCode.AUTH,
            False,
        ),
        ErrorCase(
            "429-retry-after",
            openai_error(429, "requests", RATE, **{"retry-after": "7"}),
            ErrorCode.RATE_LIMIT,
            True,
            7.0,
        ),
        ErrorCase(
            "429-retry-after-ms",
            openai_error(429, "tokens", RATE, **{"retry-after-ms": "1500"}),
            ErrorCode.RATE_LIMIT,
            True,
            1.5,
        ),
        ErrorCase(
            "429-reset-headers",
            openai_error(
                429,
                "requests",
                RATE,
                **{"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "20s"},
            ),
            ErrorCode.RATE_LIMIT,
            True,
            20.0,
        ),
        ErrorCase(
            "429-insufficient_quota",
            openai_error(
                429,
                "insufficient_quota",
                "insufficient_quota",
                "You exceeded your current quota",
                **{"retry-after": "1"},
            ),
            ErrorCode.AUTH,
            False,
        ),
        ErrorCase(
            "400-context_length_exceeded",
            openai_error(
                400,
                "invalid_request_error",
                "context_length_exceeded",
                "This model's maximum context length is 128000.",
            ),
            ErrorCode.CONTEXT_LENGTH,
            False,
        ),
        ErrorCase(
            "400-content_policy_violation",
            openai_error(400, "invalid_request_error", "content_policy_violation"),
            ErrorCode.CONTENT_FILTER,
            False,
        ),
        ErrorCase(
            "400-invalid_request",
            openai_error(400, "invalid_request_error", None),
            ErrorCode.BAD_REQUEST,
            False,
        ),
        ErrorCase(
            "404-model_not_found",
            openai_error(404, "invalid_request_error", "model_not_found"),
            ErrorCode.BAD_REQUEST,
            False,
        ),
        ErrorCase(
            "500-server_error", openai_error(500, "server_error", None), ErrorCode.UNAVAILABLE, True
        ),
        ErrorCase(
            "502-html",
            lambda: httpx.Response(
                502,
                content=b"<html><body>502 Bad Gateway</body></html>",
                headers={"content-type": "text/html"},
            ),
            ErrorCode.UNAVAILABLE,
            True,
        ),
        ErrorCase(
            "503-retry-after",
            openai_error(503, "server_error", None, **{"retry-after": "2"}),
            ErrorCode.UNAVAILABLE,
            True,
            2.0,
        ),
    ),
    malformed=(
        ("html", b"<html>oops</html>", "not valid JSON"),
        ("truncated", fixture_text("openai", "chat_completion.json")[:120], "not valid JSON"),
        ("empty", b"", "empty body"),
        ("no-choices", b'{"id": "x", "object": "chat.completion"}', "no choices"),
        (
            "no-message",
            b'{"choices": [{"index": 0, "finish_reason": "stop"}]}',
            "message is missing",
        ),
    ),
    cuts=(
        StreamCut(
            "error-event",
            first_events("openai", "stream_text.sse", 2)
            + b"data: "
            + json.dumps(OPENAI_SERVER_ERROR).encode()
            + b"\n\n",
            ErrorCode.UNAVAILABLE,
            ("Hello",),
        ),
        StreamCut(
            "no-finish",
            first_events("openai", "stream_text.sse", 3),
            ErrorCode.INVALID_RESPONSE,
            ("Hello", " there"),
        ),
        StreamCut(
            "truncated-event",
            first_events("openai", "stream_text.sse", 2) + b'data: {"id":"chatcmpl-123","obj',
            ErrorCode.INVALID_RESPONSE,
            ("Hello",),
        ),
        StreamCut(
            "connection-reset",
            first_events("openai", "stream_text.sse", 2),
            ErrorCode.NETWORK,
            ("Hello",),
            drop_connection=True,
        ),
    ),
    stream_refusal=openai_error(
        429, "requests", RATE, "Rate limit reached", **{"retry-after": "3"}
    ),
    stream_refusal_retry_after_s=3.0,
    unauthorized=lambda message: openai_error(401, "invalid_request_error", None, message)(),
)


# -- Anthropic Messages --------------------------------------------------------------


def anthropic_error(
    status: int, type_: str, message: str = "Something failed", **headers: str
) -> Callable[[], httpx.Response]:
    """NOTES "Errors": `{"type":"error","error":{"type","message"},"request_id"}`."""
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_01"}
    return lambda: httpx.Response(status, json=body, headers={"request-id": "req_01", **headers})


def anthropic_events(*pairs: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in pairs)


ANTHROPIC_KEY = "sk-ant-api03-test-secret-0123456789abcdef"
ANTHROPIC_OVERLOADED = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
}
#: message_start, content_block_start, ping, the "Hello" delta
ANTHROPIC_HEAD = first_events("anthropic", "stream_text.sse", 4)

ANTHROPIC = Wire(
    kind="anthropic",
    adapter=AnthropicAdapter,
    spec=AnthropicProvider,
    key_env="ANTHROPIC_API_KEY",
    key=ANTHROPIC_KEY,
    model="claude-sonnet-4-5",
    url="https://api.anthropic.com/v1/messages",
    stream_url="https://api.anthropic.com/v1/messages",
    key_header="x-api-key",
    key_prefix="",
    request_body={
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Be terse.",
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
    },
    stream_extra={"stream": True},
    # input tokens include cache creation and cache reads (NOTES "Usage")
    text=Answer(
        "message_text.json", "Hi! My name is Claude.", FinishReason.STOP, (2095 + 100 + 5, 503)
    ),
    tool=Answer(
        "message_tool_use.json",
        "I'll check the weather.",
        FinishReason.TOOL_CALLS,
        (472, 91),
        (
            "toolu_01A09q90qw90lq917835lq9",
            "get_weather",
            {"location": "San Francisco, CA", "unit": "celsius"},
        ),
    ),
    stream_fixture="stream_text.sse",
    stream_deltas=(
        TextDelta("Hello"),
        TextDelta("!"),
        UsageDelta(Usage(25 + 10, 15)),
        FinishDelta(FinishReason.STOP),
    ),
    tool_stream=Answer(
        "stream_tool_use.sse",
        "Let me check.",
        FinishReason.TOOL_CALLS,
        (0, 0),
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", {"location": "San Francisco, CA"}),
    ),
    errors=(
        ErrorCase(
            "400-invalid_request_error",
            anthropic_error(400, "invalid_request_error"),
            ErrorCode.BAD_REQUEST,
            False,
        ),
        ErrorCase(
            "400-prompt-too-long",
            anthropic_error(
                400, "invalid_request_error", "prompt is too long: 200251 tokens > 200000 maximum"
            ),
            ErrorCode.CONTEXT_LENGTH,
            False,
        ),
        ErrorCase(
            "401-authentication_error",
            anthropic_error(401, "authentication_error"),
            ErrorCode.AUTH,
            False,
        ),
        ErrorCase(
            "402-billing_error", anthropic_error(402, "billing_error"), ErrorCode.AUTH, False
        ),
        ErrorCase(
            "403-permission_error", anthropic_error(403, "permission_error"), ErrorCode.AUTH, False
        ),
        ErrorCase(
            "404-not_found_error",
            anthropic_error(404, "not_found_error"),
            ErrorCode.BAD_REQUEST,
            False,
        ),
        ErrorCase(
            "413-request_too_large",
            anthropic_error(413, "request_too_large"),
            ErrorCode.CONTEXT_LENGTH,
            False,
        ),
        ErrorCase(
            "429-rate_limit_error",
            anthropic_error(429, "rate_limit_error"),
            ErrorCode.RATE_LIMIT,
            True,
        ),
        ErrorCase(
            "429-retry-after",
            anthropic_error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
                **{"retry-after": "30"},
            ),
            ErrorCode.RATE_LIMIT,
            True,
            30.0,
        ),
        # RFC 3339 reset times (NOTES; FakeClock's wall is 2023-11-14T22:13:20Z)
        ErrorCase(
            "429-reset-headers",
            anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                **{
                    "anthropic-ratelimit-requests-remaining": "49",
                    "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:21Z",
                    "anthropic-ratelimit-tokens-remaining": "0",
                    "anthropic-ratelimit-tokens-reset": "2023-11-14T22:13:40Z",
                },
            ),
            ErrorCode.RATE_LIMIT,
            True,
            20.0,
        ),
        ErrorCase("500-api_error", anthropic_error(500, "api_error"), ErrorCode.UNAVAILABLE, True),
        ErrorCase(
            "502-html",
            lambda: httpx.Response(502, content=b"<html><body>Bad gateway</body></html>"),
            ErrorCode.UNAVAILABLE,
            True,
        ),
        ErrorCase(
            "504-timeout_error", anthropic_error(504, "timeout_error"), ErrorCode.TIMEOUT, True
        ),
        ErrorCase(
            "529-overloaded_error",
            anthropic_error(529, "overloaded_error"),
            ErrorCode.UNAVAILABLE,
            True,
        ),
    ),
    malformed=(
        ("html", b"<html>oops</html>", "not valid JSON"),
        (
            "truncated",
            b'{"id": "msg_01", "type": "message", "content": [{"type": "te',
            "not valid JSON",
        ),
        ("empty", b"", "empty body"),
        (
            "no-content",
            b'{"id": "msg_01", "type": "message", "stop_reason": "end_turn"}',
            "content",
        ),
        ("no-usage", b'{"content": [], "stop_reason": "end_turn"}', "usage"),
        (
            "no-stop_reason",
            b'{"content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}',
            "stop_reason",
        ),
        (
            "tool_use-without-id",
            b'{"content": [{"type": "tool_use", "name": "x"}], "stop_reason":'
            b' "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}}',
            "tool_use",
        ),
    ),
    cuts=(
        StreamCut(
            "error-event",
            ANTHROPIC_HEAD + anthropic_events(("error", ANTHROPIC_OVERLOADED)),
            ErrorCode.UNAVAILABLE,
            ("Hello",),
        ),
        # NOTES "Streaming": the stream ends after `message_stop`; a clean close before is a cut
        StreamCut(
            "no-finish",
            first_events("anthropic", "stream_text.sse", 6),
            ErrorCode.NETWORK,
            ("Hello", "!"),
        ),
        StreamCut(
            "truncated-event",
            ANTHROPIC_HEAD + b'event: content_block_delta\ndata: {"type":"content_blo',
            ErrorCode.INVALID_RESPONSE,
            ("Hello",),
        ),
        StreamCut(
            "connection-reset", ANTHROPIC_HEAD, ErrorCode.NETWORK, ("Hello",), drop_connection=True
        ),
    ),
    stream_refusal=anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "3"}),
    stream_refusal_retry_after_s=3.0,
    unauthorized=lambda message: anthropic_error(401, "authentication_error", message)(),
)


# -- Gemini generateContent ----------------------------------------------------------


def rpc_error(status: int, rpc: str, message: str = "It failed.") -> Callable[[], httpx.Response]:
    """NOTES "Errors": `{"error": {"code", "message", "status", "details"}}`."""
    body = {"error": {"code": status, "message": message, "status": rpc, "details": []}}
    return lambda: httpx.Response(status, json=body)


def gemini_chunks(*chunks: dict[str, Any]) -> bytes:
    """NOTES "Streaming": one `data: <GenerateContentResponse>` line and a blank line each."""
    return b"".join(f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks)


GEMINI_KEY = "AIzaSyTEST-not-a-real-key-0123456789"
GEMINI_BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
GEMINI_UNAVAILABLE = {
    "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
}
GEMINI_HEAD = first_events("gemini", "stream_text.sse", 1)  # the "Hel" chunk


def gemini_fixture(name: str, status: int) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, content=fixture_text("gemini", name))


GEMINI = Wire(
    kind="gemini",
    adapter=GeminiAdapter,
    spec=GeminiProvider,
    key_env="GEMINI_API_KEY",
    key=GEMINI_KEY,
    model="gemini-2.5-flash",
    url=f"{GEMINI_BASE}:generateContent",
    stream_url=f"{GEMINI_BASE}:streamGenerateContent?alt=sse",
    key_header="x-goog-api-key",
    key_prefix="",
    request_body={
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
        },
    },
    stream_extra={},  # the URL says it (`:streamGenerateContent?alt=sse`), not the body
    # thought parts are skipped; thinking tokens count as output (NOTES "Response body")
    text=Answer("generate_text.json", "Hello! How can I help?", FinishReason.STOP, (5, 7 + 20)),
    tool=Answer(
        "generate_function_call.json",
        "",
        FinishReason.TOOL_CALLS,
        (60, 14),
        (None, "get_weather", {"location": "Paris"}),
    ),
    stream_fixture="stream_text.sse",
    stream_deltas=(
        TextDelta("Hel"),
        TextDelta("lo there"),
        TextDelta("!"),
        UsageDelta(Usage(4, 3 + 5)),
        FinishDelta(FinishReason.STOP),
    ),
    tool_stream=Answer(
        "stream_function_call.sse",
        "Checking.",
        FinishReason.TOOL_CALLS,
        (0, 0),
        (None, "get_weather", {"location": "Paris"}),
    ),
    errors=(
        ErrorCase(
            "400-INVALID_ARGUMENT", rpc_error(400, "INVALID_ARGUMENT"), ErrorCode.BAD_REQUEST, False
        ),
        # a bad key is 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID (NOTES)
        ErrorCase(
            "400-API_KEY_INVALID",
            gemini_fixture("error_api_key_invalid.json", 400),
            ErrorCode.AUTH,
            False,
        ),
        ErrorCase(
            "400-input-too-long",
            rpc_error(
                400,
                "INVALID_ARGUMENT",
                "The input token count"
                " (132478) exceeds the maximum number of tokens allowed (131072).",
            ),
            ErrorCode.CONTEXT_LENGTH,
            False,
        ),
        ErrorCase(
            "400-FAILED_PRECONDITION", rpc_error(400, "FAILED_PRECONDITION"), ErrorCode.AUTH, False
        ),
        ErrorCase("401-UNAUTHENTICATED", rpc_error(401, "UNAUTHENTICATED"), ErrorCode.AUTH, False),
        ErrorCase(
            "403-PERMISSION_DENIED", rpc_error(403, "PERMISSION_DENIED"), ErrorCode.AUTH, False
        ),
        ErrorCase("404-NOT_FOUND", rpc_error(404, "NOT_FOUND"), ErrorCode.BAD_REQUEST, False),
        ErrorCase(
            "429-RESOURCE_EXHAUSTED",
            rpc_error(429, "RESOURCE_EXHAUSTED"),
            ErrorCode.RATE_LIMIT,
            True,
        ),
        # QuotaFailure + RetryInfo.retryDelay "47s" (NOTES "Rate limits and retry")
        ErrorCase(
            "429-RetryInfo", gemini_fixture("error_429.json", 429), ErrorCode.RATE_LIMIT, True, 47.0
        ),
        ErrorCase("500-INTERNAL", rpc_error(500, "INTERNAL"), ErrorCode.UNAVAILABLE, True),
        ErrorCase("503-UNAVAILABLE", rpc_error(503, "UNAVAILABLE"), ErrorCode.UNAVAILABLE, True),
        ErrorCase(
            "504-DEADLINE_EXCEEDED", rpc_error(504, "DEADLINE_EXCEEDED"), ErrorCode.TIMEOUT, True
        ),
    ),
    malformed=(
        ("html", b"<html>oops</html>", "not valid JSON"),
        ("truncated", b'{"candidates": [{"content": {"parts": [{"text": "Hel', "not valid JSON"),
        ("no-candidates", b"{}", "no candidates"),
        (
            "no-usage",
            b'{"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}',
            "usageMetadata",
        ),
        ("no-content", b'{"candidates": [{"index": 0}], "usageMetadata": {}}', "neither content"),
        (
            "functionCall-without-name",
            b'{"candidates": [{"content": {"parts": [{"functionCall":'
            b' {"args": {}}}]}}], "usageMetadata": {}}',
            "functionCall",
        ),
    ),
    cuts=(
        StreamCut(
            "error-event",
            GEMINI_HEAD + gemini_chunks(GEMINI_UNAVAILABLE),
            ErrorCode.UNAVAILABLE,
            ("Hel",),
        ),
        # NOTES "Streaming": the last chunk carries finishReason; a clean close before is a cut
        StreamCut(
            "no-finish",
            first_events("gemini", "stream_text.sse", 2),
            ErrorCode.NETWORK,
            ("Hel", "lo there"),
        ),
        StreamCut(
            "truncated-event",
            GEMINI_HEAD + b'data: {"candidates": [{"content": {"par',
            ErrorCode.INVALID_RESPONSE,
            ("Hel",),
        ),
        StreamCut(
            "connection-reset", GEMINI_HEAD, ErrorCode.NETWORK, ("Hel",), drop_connection=True
        ),
    ),
    stream_refusal=gemini_fixture("error_429.json", 429),
    stream_refusal_retry_after_s=47.0,
    unauthorized=lambda message: rpc_error(401, "UNAUTHENTICATED", message)(),
)

WIRES = (OPENAI, ANTHROPIC, GEMINI)
EACH_WIRE = pytest.mark.parametrize("wire", WIRES, ids=[wire.kind for wire in WIRES])
