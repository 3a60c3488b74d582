"""The anthropic adapter against a fake upstream speaking the Messages API wire format:
what only this kind does. What every kind does alike is tests/conformance/test_providers.py.

Sources: SPEC = tests/specs/anthropic-messages.prism.json (Anthropic API spec "195"),
NOTES = tests/specs/anthropic-wire-format.md. Fixture files under
tests/fixtures/anthropic/ are built from SPEC's `Message` schema and example and
from NOTES' "Streaming" section.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.clock import FakeClock
from laneway.config.schema import AnthropicProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers.anthropic import AnthropicAdapter, parse_response
from laneway.providers.base import AdapterDeps
from laneway.types import (
    Capability,
    CompletionRequest,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    ModelInfo,
    ModelRef,
    ResponseFormat,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
)
from wire_helpers import WEATHER, AdapterMaker, Upstream, ask, collect

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
KEY = "sk-ant-api03-test-secret-0123456789abcdef"
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def make(adapters: AdapterMaker) -> Callable[..., AnthropicAdapter]:
    return adapters("anthropic", AnthropicAdapter, AnthropicProvider, "ANTHROPIC_API_KEY", KEY)


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, content=(FIXTURES / name).read_bytes())


def error(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    """NOTES "Errors": `{"type":"error","error":{"type":…,"message":…},"request_id":…}`."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_01"}
    return httpx.Response(status, json=body, headers={"request-id": "req_01", **headers})


# -- request shape -----------------------------------------------------------------


async def test_complete_sends_the_documented_headers_and_body(make: Any) -> None:
    """NOTES "Endpoint and request headers" and "Request body": x-api-key, anthropic-version,
    top-level `system`, required `max_tokens`; SPEC `CreateMessageParams` has no `seed`."""
    upstream = Upstream(ok("message_text.json"))
    adapter = make(upstream, anthropic_version="2023-06-01", headers={"anthropic-beta": "x"})
    request = CompletionRequest(
        messages=(Message("system", "Be terse."), Message("user", "Hi")),
        temperature=0.2,
        top_p=0.9,
        stop=("END",),
        seed=7,
    )
    await adapter.complete(request, MODEL, timeout_s=5)

    sent = upstream.requests[0]
    assert sent.method == "POST"
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["anthropic-beta"] == "x"
    assert "authorization" not in sent.headers
    assert upstream.body == {
        "model": MODEL,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Be terse.",
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_p": 0.9,
    }


async def test_max_tokens_comes_from_the_request_then_the_provider_default(make: Any) -> None:
    """SPEC `CreateMessageParams.required` includes `max_tokens`: it is always sent."""
    upstream = Upstream(ok("message_text.json"), ok("message_text.json"))
    adapter = make(upstream, default_max_tokens=1000, base_url="https://proxy.example/anthropic/")
    await adapter.complete(ask(max_tokens=64), MODEL, timeout_s=5)
    assert upstream.body["max_tokens"] == 64
    await adapter.complete(ask(), MODEL, timeout_s=5)
    assert upstream.body["max_tokens"] == 1000
    assert str(upstream.requests[-1].url) == "https://proxy.example/anthropic/v1/messages"


async def test_images_use_base64_sources_for_data_urls_and_url_sources_otherwise(
    make: Any,
) -> None:
    """SPEC `RequestImageBlock.source`: `Base64ImageSource` or `URLImageSource`."""
    upstream = Upstream(ok("message_text.json"))
    parts = (
        TextPart("What is this?"),
        ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ImagePart("https://example.com/cat.jpg"),
    )
    await make(upstream).complete(
        CompletionRequest(messages=(Message("user", parts),)), MODEL, timeout_s=5
    )
    assert upstream.body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


async def test_a_data_url_that_is_not_base64_is_a_bad_request_without_a_call(make: Any) -> None:
    """SPEC `Base64ImageSource` only carries base64 data."""
    upstream = Upstream()
    request = CompletionRequest(messages=(Message("user", (ImagePart("data:image/png,raw"),)),))
    with pytest.raises(ProviderError) as caught:
        await make(upstream).complete(request, MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert upstream.requests == []


async def test_tool_call_round_trip_sends_tool_use_and_merged_tool_results(make: Any) -> None:
    """SPEC `RequestToolUseBlock`, `RequestToolResultBlock`, `Tool.input_schema`; NOTES
    "Mapping from OpenAI chat". Consecutive tool results share one user turn."""
    upstream = Upstream(ok("message_tool_use.json"))
    history = (
        Message("user", "Weather in SF and LA?"),
        Message(
            "assistant",
            "Checking.",
            tool_calls=(
                ToolCall("call_1", "get_weather", '{"location": "SF"}'),
                ToolCall("call.2", "get_weather", '{"location": "LA"}'),
            ),
        ),
        Message("tool", "18C", tool_call_id="call_1"),
        Message("tool", "25C", tool_call_id="call.2"),
        Message("user", "And tomorrow?"),
    )
    request = CompletionRequest(messages=history, tools=(WEATHER,), tool_choice="auto")
    completion = await make(upstream).complete(request, MODEL, timeout_s=5)

    body = upstream.body
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert body["tool_choice"] == {"type": "auto"}
    assert body["messages"] == [
        {"role": "user", "content": "Weather in SF and LA?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"location": "SF"},
                },
                {
                    "type": "tool_use",
                    "id": "call_2",
                    "name": "get_weather",
                    "input": {"location": "LA"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "25C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]
    assert completion.finish_reason is FinishReason.TOOL_CALLS
    assert completion.content == "I'll check the weather."
    assert completion.tool_calls == (
        ToolCall(
            "toolu_01A09q90qw90lq917835lq9",
            "get_weather",
            '{"location":"San Francisco, CA","unit":"celsius"}',
        ),
    )


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ("get_weather", {"type": "tool", "name": "get_weather"}),
    ],
)
async def test_tool_choice_maps_to_the_documented_variants(
    make: Any, choice: str, expected: dict[str, str]
) -> None:
    """SPEC `ToolChoice` discriminator: auto, any, tool, none."""
    upstream = Upstream(ok("message_text.json"))
    await make(upstream).complete(ask(tools=(WEATHER,), tool_choice=choice), MODEL, timeout_s=5)
    assert upstream.body["tool_choice"] == expected


async def test_tool_arguments_that_are_not_json_are_a_bad_request(make: Any) -> None:
    """SPEC `RequestToolUseBlock.input` is an object: arguments must parse."""
    history = (
        Message("user", "x"),
        Message("assistant", tool_calls=(ToolCall("c1", "get_weather", "{not json"),)),
    )
    with pytest.raises(ProviderError) as caught:
        await make(Upstream()).complete(CompletionRequest(messages=history), MODEL, timeout_s=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST


# -- structured output -----------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "temp_c": {"type": "number"}},
    "required": ["city", "temp_c"],
}


def structured_answer() -> httpx.Response:
    """SPEC `Message` with a `ToolUseBlock` for the forced output tool."""
    return httpx.Response(
        200,
        json={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "json_response",
                    "input": {"city": "Paris", "temp_c": 21.5},
                }
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 12},
        },
    )


async def test_structured_output_forces_one_tool_and_returns_its_input_as_content(
    make: Any,
) -> None:
    """SPEC `Tool.input_schema` + `ToolChoiceTool`: the GA way to get schema-shaped JSON
    (SPEC's `output_format` exists only in `BetaCreateMessageParams`)."""
    upstream = Upstream(structured_answer())
    request = ask(response_format=ResponseFormat("json_schema", SCHEMA, name="weather"))
    completion = await make(upstream).complete(request, MODEL, timeout_s=5)

    assert upstream.body["tools"] == [
        {
            "name": "json_response",
            "input_schema": SCHEMA,
            "description": "Give the final answer as this tool's input, matching its schema.",
        }
    ]
    assert upstream.body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert json.loads(completion.content) == {"city": "Paris", "temp_c": 21.5}
    assert completion.tool_calls == ()
    assert completion.finish_reason is FinishReason.STOP


async def test_structured_output_with_caller_tools_lets_the_model_pick_any_tool(
    make: Any,
) -> None:
    """SPEC `ToolChoiceAny`: the caller's tools stay callable next to the output tool."""
    upstream = Upstream(structured_answer())
    request = ask(tools=(WEATHER,), response_format=ResponseFormat("json_schema", SCHEMA))
    await make(upstream).complete(request, MODEL, timeout_s=5)
    assert [t["name"] for t in upstream.body["tools"]] == ["get_weather", "json_response"]
    assert upstream.body["tool_choice"] == {"type": "any"}


# -- response parsing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish: FinishReason) -> None:
    """SPEC `StopReason` plus `model_context_window_exceeded` (NOTES, SDK-types)."""
    body = json.loads((FIXTURES / "message_text.json").read_text())
    body["stop_reason"] = stop_reason
    assert parse_response(body).finish_reason is finish


# -- streaming ---------------------------------------------------------------------


def events(*pairs: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in pairs)


START = (
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": MODEL,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 9, "output_tokens": 1},
        },
    },
)


async def test_stream_of_structured_output_yields_the_tool_input_as_text(make: Any) -> None:
    """NOTES "Streaming" (`input_json_delta`) for the forced output tool of structured output."""
    body = events(
        START,
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_9",
                    "name": "json_response",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": 'ris", "temp_c": 21}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 12},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    )
    request = ask(response_format=ResponseFormat("json_schema", SCHEMA))
    deltas = await collect(
        make(Upstream(httpx.Response(200, content=body))).stream(request, MODEL, timeout_s=5)
    )
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert json.loads(text) == {"city": "Paris", "temp_c": 21}
    assert not any(isinstance(d, ToolCallDelta) for d in deltas)
    assert deltas[-1] == FinishDelta(FinishReason.STOP)


# -- credentials, probe, capabilities ----------------------------------------------


async def test_each_credential_profile_sends_its_own_key(make: Any) -> None:
    """Credential profiles: the engine passes the profile (and names it: the gateway's
    conformance test)."""
    upstream = Upstream(ok("message_text.json"))
    adapter = make(
        upstream,
        env={"KEY_A": "sk-ant-a", "KEY_B": "sk-ant-b"},
        credentials=[
            {"name": "team-a", "api_key_env": "KEY_A"},
            {"name": "team-b", "api_key_env": "KEY_B"},
        ],
    )
    second = adapter.credentials()[1]
    completion = await adapter.complete(ask(), MODEL, timeout_s=5, credential=second)
    assert upstream.requests[0].headers["x-api-key"] == "sk-ant-b"
    assert completion.content


async def test_probe_lists_one_model_and_maps_a_bad_key_to_auth(make: Any) -> None:
    """SPEC `GET /v1/models` (`limit` query parameter); 401 `authentication_error`."""
    upstream = Upstream(
        httpx.Response(
            200, json={"data": [], "has_more": False, "first_id": None, "last_id": None}
        ),
        error(401, "authentication_error", "invalid x-api-key"),
    )
    adapter = make(upstream)
    await adapter.probe()
    assert upstream.requests[0].method == "GET"
    assert str(upstream.requests[0].url) == "https://api.anthropic.com/v1/models?limit=1"
    assert upstream.requests[0].headers["x-api-key"] == KEY
    with pytest.raises(ProviderError) as caught:
        await adapter.probe()
    assert caught.value.code is ErrorCode.AUTH


def test_capabilities_prefer_the_catalog_then_config_then_defaults() -> None:
    """Capabilities are declared data: catalog entry first, provider config next."""
    known = ModelInfo(ModelRef("anthropic", "claude-x"), frozenset({Capability.TOOLS}))
    spec = AnthropicProvider(
        kind="anthropic", models={"claude-y": {"context": 1000, "capabilities": ["tools"]}}
    )
    deps = AdapterDeps(transport=None, clock=FakeClock(), catalog={"claude-x": known})  # type: ignore[arg-type]
    adapter = AnthropicAdapter("anthropic", spec, deps)
    assert adapter.capabilities("claude-x") is known
    configured = adapter.capabilities("claude-y")
    assert configured.context_window == 1000
    assert configured.capabilities == frozenset({Capability.TOOLS})
    default = adapter.capabilities("claude-z")
    assert default.supports(frozenset(Capability))
    assert default.context_window == 200_000
