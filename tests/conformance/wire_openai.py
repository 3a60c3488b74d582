"""The OpenAI Chat Completions fixture set.

Sources: tests/specs/openai-chat.prism.yaml (`CreateChatCompletionRequest`,
`CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`,
`ErrorResponse`); rate-limit headers per
https://platform.openai.com/docs/guides/rate-limits ("Rate limits in headers").
Bodies: tests/fixtures/openai/ (see its README).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from wire_set import Answer, ErrorCase, StreamCut, Wire, first_events, fixture_text

from laneway.config.schema import OpenAIProvider
from laneway.errors import ErrorCode
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import FinishDelta, FinishReason, TextDelta, Usage, UsageDelta


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
