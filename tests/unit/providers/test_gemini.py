"""The gemini adapter against a fake upstream speaking generateContent's wire format.

Sources: PROTO = tests/specs/gemini-v1beta-protos/google/ai/generativelanguage/v1beta/
(`generative_service.proto`, `content.proto`) in proto3 JSON form; NOTES =
tests/specs/gemini-wire-format.md. Fixture files under tests/fixtures/gemini/
follow NOTES' response, streaming and error examples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from wire_helpers import WEATHER, AdapterMaker, CutStream, Upstream, ask, collect

from laneway.clock import FakeClock
from laneway.config.schema import GeminiProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers.base import AdapterDeps
from laneway.providers.gemini import GeminiAdapter, parse_response
from laneway.types import (
    Capability,
    CompletionRequest,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    UsageDelta,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "gemini"
KEY = "AIzaSyTEST-not-a-real-key-0123456789"
MODEL = "gemini-2.5-flash"
BASE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"


@pytest.fixture
def make(adapters: AdapterMaker) -> Callable[..., GeminiAdapter]:
    return adapters("gemini", GeminiAdapter, GeminiProvider, "GEMINI_API_KEY", KEY)


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, content=(FIXTURES / name).read_bytes())


def sse_body(*chunks: dict[str, Any]) -> bytes:
    """NOTES "Streaming": one `data: <GenerateContentResponse>` line and a blank line each."""
    return b"".join(f"data: {json.dumps(chunk)}\r\n\r\n".encode() for chunk in chunks)


def rpc_error(status: int, rpc: str, message: str, *details: dict[str, Any]) -> httpx.Response:
    """NOTES "Errors": `{"error": {"code", "message", "status", "details"}}`."""
    body = {"error": {"code": status, "message": message, "status": rpc, "details": list(details)}}
    return httpx.Response(status, json=body)


# -- request shape -----------------------------------------------------------------


async def test_complete_sends_the_key_header_and_a_proto_json_body(make: Any) -> None:
    """NOTES "Endpoints and auth" and "Request body"; PROTO `GenerateContentRequest`,
    `GenerationConfig` (topP, maxOutputTokens, stopSequences, seed)."""
    upstream = Upstream(ok("generate_text.json"))
    request = CompletionRequest(
        messages=(
            Message("system", "Be terse."),
            Message("user", "Hi"),
            Message("assistant", "Hello."),
            Message("user", "More"),
        ),
        temperature=0.2,
        top_p=0.9,
        max_tokens=256,
        stop=("END",),
        seed=7,
    )
    await make(upstream, headers={"x-goog-user-project": "p1"}).complete(
        request, MODEL, timeout_s=5
    )

    sent = upstream.requests[0]
    assert str(sent.url) == f"{BASE}:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-goog-user-project"] == "p1"
    assert upstream.body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "More"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "seed": 7,
        },
    }


async def test_the_api_key_never_appears_in_any_url(make: Any) -> None:
    """NOTES "Endpoints and auth": `?key=` is possible but logged by proxies; we use the header."""
    upstream = Upstream(
        ok("generate_text.json"),
        httpx.Response(200, content=(FIXTURES / "stream_text.sse").read_bytes()),
        httpx.Response(200, json={"models": []}),
    )
    adapter = make(upstream)
    await adapter.complete(ask(), MODEL, timeout_s=5)
    await collect(adapter.stream(ask(), MODEL, timeout_s=5))
    await adapter.probe()
    assert len(upstream.requests) == 3
    for sent in upstream.requests:
        assert KEY not in str(sent.url)
        assert "key=" not in str(sent.url)
        assert sent.headers["x-goog-api-key"] == KEY


async def test_images_use_inline_data_and_file_data(make: Any) -> None:
    """PROTO `Part.inline_data` (`Blob`: mimeType, data) and `Part.file_data` (`FileData`)."""
    upstream = Upstream(ok("generate_text.json"))
    parts = (
        TextPart("What is this?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.jpg"),
    )
    await make(upstream).complete(
        CompletionRequest(messages=(Message("user", parts),)), MODEL, timeout_s=5
    )
    assert upstream.body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
    ]


async def test_tool_round_trip_maps_results_back_to_function_names(make: Any) -> None:
    """PROTO `FunctionDeclaration.parameters_json_schema`, `FunctionCall`, `FunctionResponse`
    (`response` is a JSON object, e.g. with an "output" key). Synthesized ids stay local."""
    upstream = Upstream(ok("generate_function_call.json"), ok("generate_text.json"))
    adapter = make(upstream)
    first = await adapter.complete(
        ask("Weather in Paris and Lyon?", tools=(WEATHER,)), MODEL, timeout_s=5
    )
    assert upstream.body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parametersJsonSchema": WEATHER.parameters,
                }
            ]
        }
    ]
    assert first.finish_reason is FinishReason.TOOL_CALLS
    paris, lyon = first.tool_calls
    assert (paris.name, json.loads(paris.arguments)) == ("get_weather", {"location": "Paris"})
    assert paris.id != lyon.id

    history = (
        Message("user", "Weather in Paris and Lyon?"),
        Message("assistant", tool_calls=first.tool_calls),
        Message("tool", "18C", tool_call_id=paris.id),
        Message("tool", '{"temp_c": 21}', tool_call_id=lyon.id),
        Message("user", "Which is warmer?"),
    )
    await adapter.complete(
        CompletionRequest(messages=history, tools=(WEATHER,)), MODEL, timeout_s=5
    )
    assert upstream.body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Lyon?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"location": "Lyon"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                {"text": "Which is warmer?"},
            ],
        },
    ]


def test_synthesized_tool_call_ids_are_stable_and_distinct() -> None:
    """PROTO `FunctionCall.id` is optional; ids must survive a re-parse of the same answer."""
    body = json.loads((FIXTURES / "generate_function_call.json").read_text())
    first, second = parse_response(body), parse_response(body)
    assert [c.id for c in first.tool_calls] == [c.id for c in second.tool_calls]
    assert len({c.id for c in first.tool_calls}) == 2


async def test_provider_given_call_ids_are_kept_and_sent_back(make: Any) -> None:
    """PROTO `FunctionCall.id` / `FunctionResponse.id`: "used by the client to match"."""
    upstream = Upstream(ok("generate_text.json"))
    history = (
        Message("user", "x"),
        Message("assistant", tool_calls=(ToolCall("fc-7", "get_weather", '{"location": "Oslo"}'),)),
        Message("tool", "2C", tool_call_id="fc-7"),
    )
    await make(upstream).complete(CompletionRequest(messages=history), MODEL, timeout_s=5)
    model_turn, result_turn = upstream.body["contents"][1:]
    assert model_turn["parts"][0]["functionCall"]["id"] == "fc-7"
    assert result_turn["parts"][0]["functionResponse"]["id"] == "fc-7"


async def test_a_tool_result_for_an_unknown_call_is_a_bad_request(make: Any) -> None:
    """PROTO `FunctionResponse.name` is REQUIRED: an orphan result has no name to send."""
    upstream = Upstream()
    history = (Message("user", "x"), Message("tool", "2C", tool_call_id="nope"))
    with pytest.raises(ProviderError) as caught:
        await make(upstream).complete(CompletionRequest(messages=history), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_weather", {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
async def test_tool_choice_maps_to_function_calling_modes(
    make: Any, choice: str, expected: dict[str, Any]
) -> None:
    """PROTO `FunctionCallingConfig.Mode` (AUTO, ANY, NONE) and `allowed_function_names`."""
    upstream = Upstream(ok("generate_text.json"))
    await make(upstream).complete(ask(tools=(WEATHER,), tool_choice=choice), MODEL, timeout_s=5)
    assert upstream.body["toolConfig"] == {"functionCallingConfig": expected}


async def test_structured_output_sends_a_json_schema_and_returns_the_json_text(make: Any) -> None:
    """PROTO `GenerationConfig.response_json_schema` ("an alternative to response_schema that
    accepts JSON Schema"; `response_mime_type` required with it), JSON name responseJsonSchema."""
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": '{"city": "Paris"}'}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 5},
    }
    upstream = Upstream(httpx.Response(200, json=answer))
    completion = await make(upstream).complete(
        ask(response_format=ResponseFormat("json_schema", schema)), MODEL, timeout_s=5
    )
    assert upstream.body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }
    assert json.loads(completion.content) == {"city": "Paris"}


# -- response parsing --------------------------------------------------------------


async def test_complete_skips_thoughts_and_counts_thinking_tokens_as_output(make: Any) -> None:
    """NOTES "Response body": usageMetadata incl. thoughtsTokenCount; PROTO `Part.thought`."""
    completion = await make(Upstream(ok("generate_text.json"))).complete(ask(), MODEL, timeout_s=5)
    assert completion.content == "Hello! How can I help?"
    assert completion.finish_reason is FinishReason.STOP
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (5, 7 + 20)
    assert completion.provider == "gemini"
    assert completion.credential == "gemini"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", FinishReason.STOP),
        ("MAX_TOKENS", FinishReason.LENGTH),
        ("SAFETY", FinishReason.CONTENT_FILTER),
        ("RECITATION", FinishReason.CONTENT_FILTER),
        ("BLOCKLIST", FinishReason.CONTENT_FILTER),
        ("PROHIBITED_CONTENT", FinishReason.CONTENT_FILTER),
        ("SPII", FinishReason.CONTENT_FILTER),
        ("OTHER", FinishReason.STOP),
    ],
)
def test_finish_reasons_map_as_documented(reason: str, finish: FinishReason) -> None:
    """PROTO `Candidate.FinishReason`; NOTES "Suggested mapping"."""
    body = {"candidates": [{"finishReason": reason}], "usageMetadata": {"promptTokenCount": 3}}
    parsed = parse_response(body)
    assert parsed.finish_reason is finish
    assert parsed.content == ""


async def test_a_blocked_prompt_is_a_content_filter_error(make: Any) -> None:
    """NOTES "Response body": HTTP 200, no candidates, `promptFeedback.blockReason`."""
    answer = httpx.Response(
        200,
        json={
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8},
        },
    )
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(answer)).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.CONTENT_FILTER
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"candidates": [{"content": {"parts": [{"text": "Hel', "not valid JSON"),
        (b"{}", "no candidates"),
        (b'{"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}', "usageMetadata"),
        (b'{"candidates": [{"index": 0}], "usageMetadata": {}}', "neither content"),
        (
            b'{"candidates": [{"content": {"parts": [{"functionCall": {"args": {}}}]}}],'
            b' "usageMetadata": {}}',
            "functionCall",
        ),
    ],
)
async def test_bodies_not_in_the_documented_shape_are_invalid_responses(
    make: Any, body: bytes, what: str
) -> None:
    """PROTO `GenerateContentResponse` / `Candidate` / `FunctionCall.name` (REQUIRED)."""
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(httpx.Response(200, content=body))).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.INVALID_RESPONSE
    assert what in caught.value.message


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "rpc", "code", "retryable"),
    [
        (400, "INVALID_ARGUMENT", ErrorCode.BAD_REQUEST, False),
        (400, "FAILED_PRECONDITION", ErrorCode.AUTH, False),
        (401, "UNAUTHENTICATED", ErrorCode.AUTH, False),
        (403, "PERMISSION_DENIED", ErrorCode.AUTH, False),
        (404, "NOT_FOUND", ErrorCode.BAD_REQUEST, False),
        (429, "RESOURCE_EXHAUSTED", ErrorCode.RATE_LIMIT, True),
        (500, "INTERNAL", ErrorCode.UNAVAILABLE, True),
        (503, "UNAVAILABLE", ErrorCode.UNAVAILABLE, True),
        (504, "DEADLINE_EXCEEDED", ErrorCode.TIMEOUT, True),
    ],
)
async def test_rpc_status_bodies_map_to_error_codes(
    make: Any, status: int, rpc: str, code: ErrorCode, retryable: bool
) -> None:
    """NOTES "Errors" table (ERRDOC): google.rpc.Status `status` names."""
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(rpc_error(status, rpc, "It failed."))).complete(
            ask(), MODEL, timeout_s=5
        )
    assert caught.value.code is code
    assert caught.value.retryable is retryable
    assert caught.value.status == status


async def test_resource_exhausted_waits_for_the_retry_info_delay(make: Any) -> None:
    """NOTES "Rate limits and retry": QuotaFailure + RetryInfo.retryDelay "47s" (ISSUE-2044)."""
    answer = httpx.Response(429, content=(FIXTURES / "error_429.json").read_bytes())
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(answer)).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.RATE_LIMIT
    assert caught.value.retry_after_s == 47


async def test_an_invalid_key_is_auth_although_the_status_is_400(make: Any) -> None:
    """NOTES "Errors": a bad key is 400 INVALID_ARGUMENT with ErrorInfo reason
    API_KEY_INVALID (DIGEST, quoting ERRDOC's example)."""
    answer = httpx.Response(400, content=(FIXTURES / "error_api_key_invalid.json").read_bytes())
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(answer)).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.AUTH


async def test_an_over_long_input_is_a_context_length_error(make: Any) -> None:
    """No structured signal exists; the recorded body is 400 INVALID_ARGUMENT "The input token
    count (132478) exceeds the maximum number of tokens allowed (131072)."
    (github.com/google-gemini/gemini-cli/issues/4118)."""
    answer = rpc_error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (132478) exceeds the maximum number of tokens allowed (131072).",
    )
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(answer)).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.CONTEXT_LENGTH


async def test_an_error_message_echoing_the_key_never_leaks_it(make: Any) -> None:
    """NOTES "Errors" body shape; a message may quote the request back."""
    answer = rpc_error(400, "INVALID_ARGUMENT", f"API key not valid: {KEY}")
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(answer)).complete(ask(), MODEL, timeout_s=5)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (httpx.ReadTimeout("timed out"), ErrorCode.TIMEOUT),
        (httpx.ConnectError("connection refused"), ErrorCode.NETWORK),
    ],
)
async def test_transport_failures_become_timeout_or_network(
    make: Any, failure: Exception, code: ErrorCode
) -> None:
    """Connection-level failures (no HTTP answer at all) as the transport reports them."""
    with pytest.raises(ProviderError) as caught:
        await make(Upstream(failure)).complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is code


# -- streaming ---------------------------------------------------------------------


async def test_stream_yields_text_then_final_usage_and_finish(make: Any) -> None:
    """NOTES "Streaming": `?alt=sse`, each chunk a whole response with only new text,
    finishReason and final usageMetadata on the last chunk, no [DONE]."""
    upstream = Upstream(httpx.Response(200, content=(FIXTURES / "stream_text.sse").read_bytes()))
    deltas = await collect(make(upstream).stream(ask(), MODEL, timeout_s=5))
    assert str(upstream.requests[0].url) == f"{BASE}:streamGenerateContent?alt=sse"
    assert deltas[:3] == [TextDelta("Hel"), TextDelta("lo there"), TextDelta("!")]
    usage = deltas[3]
    assert isinstance(usage, UsageDelta)
    assert (usage.usage.input_tokens, usage.usage.output_tokens) == (4, 3 + 5)
    assert deltas[4:] == [FinishDelta(FinishReason.STOP)]


async def test_stream_yields_whole_function_calls_as_tool_call_deltas(make: Any) -> None:
    """NOTES "Streaming" + PROTO `FunctionCall`: a call arrives whole in one chunk."""
    body = (FIXTURES / "stream_function_call.sse").read_bytes()
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(
            ask(tools=(WEATHER,)), MODEL, timeout_s=5
        )
    )
    assert deltas[0] == TextDelta("Checking.")
    call = deltas[1]
    assert isinstance(call, ToolCallDelta)
    assert (call.index, call.name, json.loads(call.arguments)) == (
        0,
        "get_weather",
        {"location": "Paris"},
    )
    assert call.id
    assert deltas[-1] == FinishDelta(FinishReason.TOOL_CALLS)


TEXT_CHUNK = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Par"}]}, "index": 0}]
}


async def test_an_error_chunk_mid_stream_ends_with_an_error_delta(make: Any) -> None:
    """NOTES "Streaming": an error after the start arrives as a `{"error": …}` chunk."""
    body = sse_body(
        TEXT_CHUNK,
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}},
    )
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(ask(), MODEL, timeout_s=5)
    )
    assert deltas[0] == TextDelta("Par")
    last = deltas[-1]
    assert isinstance(last, ErrorDelta)
    assert last.error.code is ErrorCode.UNAVAILABLE
    assert len(deltas) == 2


async def test_a_stream_closed_before_a_finish_reason_ends_with_an_error_delta(make: Any) -> None:
    """NOTES "Streaming": the last chunk carries finishReason; a close before it is a cut."""
    body = sse_body(TEXT_CHUNK)
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(ask(), MODEL, timeout_s=5)
    )
    last = deltas[-1]
    assert isinstance(last, ErrorDelta)
    assert last.error.code is ErrorCode.NETWORK
    assert not any(isinstance(d, FinishDelta) for d in deltas)


async def test_a_dropped_connection_mid_stream_ends_with_a_network_error_delta(make: Any) -> None:
    """A reset after the first NOTES "Streaming" chunk arrived."""
    answer = httpx.Response(200, stream=CutStream(sse_body(TEXT_CHUNK)))
    deltas = await collect(make(Upstream(answer)).stream(ask(), MODEL, timeout_s=5))
    assert deltas[0] == TextDelta("Par")
    last = deltas[-1]
    assert isinstance(last, ErrorDelta)
    assert last.error.code is ErrorCode.NETWORK


async def test_a_truncated_chunk_is_an_invalid_response(make: Any) -> None:
    """NOTES "Streaming": each `data:` line is a whole JSON response."""
    body = sse_body(TEXT_CHUNK) + b'data: {"candidates": [{"content": {"par'
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(ask(), MODEL, timeout_s=5)
    )
    last = deltas[-1]
    assert isinstance(last, ErrorDelta)
    assert last.error.code is ErrorCode.INVALID_RESPONSE


async def test_a_blocked_prompt_in_a_stream_ends_with_a_content_filter_delta(make: Any) -> None:
    """NOTES "Response body": no candidates, `promptFeedback.blockReason` (same in streams)."""
    body = sse_body({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(ask(), MODEL, timeout_s=5)
    )
    assert len(deltas) == 1
    assert isinstance(deltas[0], ErrorDelta)
    assert deltas[0].error.code is ErrorCode.CONTENT_FILTER


async def test_a_status_error_before_the_stream_raises(make: Any) -> None:
    """NOTES "Errors": the same google.rpc.Status body when the status is not 200."""
    answer = httpx.Response(429, content=(FIXTURES / "error_429.json").read_bytes())
    with pytest.raises(ProviderError) as caught:
        await collect(make(Upstream(answer)).stream(ask(), MODEL, timeout_s=5))
    assert caught.value.code is ErrorCode.RATE_LIMIT
    assert caught.value.retry_after_s == 47


# -- credentials, probe, capabilities ----------------------------------------------


async def test_a_missing_key_is_not_configured_and_nothing_is_sent(make: Any) -> None:
    """NOTES "Endpoints and auth": every call needs `x-goog-api-key`."""
    upstream = Upstream()
    adapter = make(upstream, env={})
    assert adapter.credentials() == ()
    assert "GEMINI_API_KEY" in (adapter.check_credentials()[0].problem or "")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.NOT_CONFIGURED
    assert upstream.requests == []


async def test_probe_lists_models_and_maps_an_invalid_key_to_auth(make: Any) -> None:
    """PROTO `model_service.proto` `ListModels` (`GET /v1beta/models`, `page_size`)."""
    upstream = Upstream(
        httpx.Response(200, json={"models": [{"name": "models/gemini-2.5-flash"}]}),
        httpx.Response(400, content=(FIXTURES / "error_api_key_invalid.json").read_bytes()),
    )
    adapter = make(upstream)
    await adapter.probe()
    assert upstream.requests[0].method == "GET"
    assert str(upstream.requests[0].url) == (
        "https://generativelanguage.googleapis.com/v1beta/models?pageSize=1"
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.probe()
    assert caught.value.code is ErrorCode.AUTH


def test_capabilities_default_to_every_capability_and_a_million_token_window() -> None:
    """Kind defaults when neither the catalog nor the config knows the model."""
    deps = AdapterDeps(transport=None, clock=FakeClock())  # type: ignore[arg-type]
    info = GeminiAdapter("gemini", GeminiProvider(kind="gemini"), deps).capabilities(MODEL)
    assert info.supports(frozenset(Capability))
    assert info.context_window == 1_048_576


async def test_a_usage_only_chunk_does_not_end_the_stream(make: Any) -> None:
    """NOTES "Streaming": earlier events may carry partial usage; a chunk may carry no text."""
    final = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "is"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
    }
    body = sse_body(TEXT_CHUNK, {"usageMetadata": {"promptTokenCount": 3}}, final)
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(ask(), MODEL, timeout_s=5)
    )
    assert deltas[:2] == [TextDelta("Par"), TextDelta("is")]
    assert deltas[-1] == FinishDelta(FinishReason.STOP)
