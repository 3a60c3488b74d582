"""The anthropic adapter's requests, validated by Stoplight Prism against Anthropic's spec.

Prism serves tests/specs/anthropic-messages.prism.json (the Messages subset of
Anthropic's OpenAPI spec, unchanged: see tests/specs/README.md) and
answers 422 to any request body the spec refuses, so a passing call proves the
body is spec-valid. Prism's 200 body is the spec's own example `Message`, so it
also proves the parser reads what the spec describes. The spec has no SSE
response, so streaming bodies are checked for validity only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from laneway.clock import SystemClock
from laneway.config.schema import AnthropicProvider
from laneway.http import AiohttpTransport
from laneway.providers.anthropic import AnthropicAdapter, build_request
from laneway.providers.base import AdapterDeps
from laneway.types import (
    CompletionRequest,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
)

pytestmark = pytest.mark.prism

SPEC = Path(__file__).resolve().parents[1] / "specs" / "anthropic-messages.prism.json"
MODEL = "claude-sonnet-4-5"
WEATHER = Tool(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)


@pytest.fixture(scope="module")
def prism_url(prism: Callable[[Path], str]) -> str:
    return prism(SPEC)


@pytest.fixture
async def adapter(prism_url: str) -> AsyncIterator[AnthropicAdapter]:
    transport = AiohttpTransport()
    spec = AnthropicProvider(kind="anthropic", base_url=prism_url, api_key="sk-ant-prism")
    yield AnthropicAdapter("anthropic", spec, AdapterDeps(transport=transport, clock=SystemClock()))
    await transport.aclose()


REQUESTS = {
    "plain": CompletionRequest.from_prompt("Hello", system="Be terse."),
    "sampling": CompletionRequest(
        messages=(Message("user", "Hi"),), temperature=0.3, top_p=0.8, stop=("END",), seed=1
    ),
    "two_system_prompts": CompletionRequest(
        messages=(Message("system", "A"), Message("system", "B"), Message("user", "Hi"))
    ),
    "images": CompletionRequest(
        messages=(
            Message(
                "user",
                (
                    TextPart("What is this?"),
                    ImagePart("data:image/png;base64,iVBORw0KGgo="),
                    ImagePart("https://example.com/cat.jpg"),
                ),
            ),
        )
    ),
    "tool_round_trip": CompletionRequest(
        messages=(
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
        ),
        tools=(WEATHER, Tool("no_arguments")),
        tool_choice="get_weather",
    ),
    "structured_output": CompletionRequest(
        messages=(Message("user", "Weather in Paris as JSON"),),
        response_format=ResponseFormat(
            "json_schema",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
    ),
    "structured_output_with_tools": CompletionRequest(
        messages=(Message("user", "Weather in Paris as JSON"),),
        tools=(WEATHER,),
        response_format=ResponseFormat("json_object"),
    ),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_requests_pass_the_spec_and_the_example_answer_parses(
    adapter: AnthropicAdapter, name: str
) -> None:
    """SPEC `CreateMessageParams` (additionalProperties: false throughout) validates each
    request; the 200 body is SPEC's example `Message`."""
    completion = await adapter.complete(REQUESTS[name], MODEL, timeout_s=10)
    assert completion.finish_reason is FinishReason.STOP
    assert completion.usage.input_tokens > 0


@pytest.mark.parametrize("name", sorted(REQUESTS))
async def test_streaming_request_bodies_pass_the_spec(prism_url: str, name: str) -> None:
    """SPEC `CreateMessageParams.stream`: the same body with `stream: true` is valid."""
    body = build_request(REQUESTS[name], MODEL, default_max_tokens=64, stream=True)
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{prism_url}/v1/messages",
            content=json.dumps(body),
            headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
        )
    assert response.status_code == 200, response.text


async def test_a_request_the_spec_refuses_is_rejected_by_prism(prism_url: str) -> None:
    """Guard: Prism really validates (SPEC requires `max_tokens`); without this, the tests
    above could pass against a server that accepts anything."""
    body = build_request(REQUESTS["plain"], MODEL, default_max_tokens=64)
    del body["max_tokens"]
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{prism_url}/v1/messages", json=body)
    assert response.status_code == 422
