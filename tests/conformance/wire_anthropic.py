"""The Anthropic Messages fixture set.

Sources: tests/specs/anthropic-messages.prism.json (SPEC: `CreateMessageParams`,
`Message`, `ErrorResponse`) and tests/specs/anthropic-wire-format.md (NOTES:
"Request body", "Streaming", "Errors", "Rate-limit and retry headers").
Bodies: tests/fixtures/anthropic/ (see its README).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from wire_set import Answer, ErrorCase, StreamCut, Wire, first_events

from laneway.config.schema import AnthropicProvider
from laneway.errors import ErrorCode
from laneway.providers.anthropic import AnthropicAdapter
from laneway.types import FinishDelta, FinishReason, TextDelta, Usage, UsageDelta


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
        UsageDelta(Usage(25 + 10, 15, cache_read_tokens=10)),
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
