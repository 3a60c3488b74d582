"""The Gemini generateContent fixture set.

Sources: tests/specs/gemini-v1beta-protos/ (`GenerateContentRequest`,
`GenerateContentResponse`) in proto3 JSON, and tests/specs/gemini-wire-format.md
(NOTES: "Endpoints and auth", "Streaming", "Errors", "Rate limits and retry").
Bodies: tests/fixtures/gemini/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from wire_set import Answer, ErrorCase, StreamCut, Wire, first_events, fixture_text

from laneway.config.schema import GeminiProvider
from laneway.errors import ErrorCode
from laneway.providers.gemini import GeminiAdapter
from laneway.types import FinishDelta, FinishReason, TextDelta, Usage, UsageDelta


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
