"""Our Chat Completions requests against Stoplight Prism, which validates them.

Prism mocks tests/specs/openai-chat.prism.yaml (derived from OpenAI's
own OpenAPI file) and answers 422 to any request body the spec does not
allow, so every test here proves the adapter's request is spec-valid and
that Prism's schema-built answer parses. Setup and behaviour:
tests/specs/README.md and tests/integration/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from laneway.clock import FakeClock
from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import AiohttpTransport
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import (
    CompletionRequest,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    ResponseFormat,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    UsageDelta,
)

pytestmark = pytest.mark.prism

SPEC = Path(__file__).resolve().parents[1] / "specs" / "openai-chat.prism.yaml"


@pytest.fixture(scope="module")
def prism_url(prism: Callable[[Path], str]) -> str:
    return prism(SPEC) + "/v1"


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    http = AiohttpTransport()
    yield http
    await http.aclose()


def openai_adapter(url: str, transport: AiohttpTransport, **headers: str) -> OpenAIAdapter:
    spec = OpenAIProvider(kind="openai", base_url=url, org="org-1", headers=headers)
    deps = AdapterDeps(transport=transport, clock=FakeClock(), env={"OPENAI_API_KEY": "sk-prism"})
    return OpenAIAdapter("openai", spec, deps)


def compatible_adapter(url: str, transport: AiohttpTransport) -> OpenAIAdapter:
    spec = OpenAICompatibleProvider(kind="openai_compatible", base_url=url, api_key="key")
    return OpenAIAdapter("vllm", spec, AdapterDeps(transport=transport, clock=FakeClock()))


TOOLS_REQUEST = CompletionRequest(
    messages=(
        Message("system", "You call tools."),
        Message("user", (TextPart("What is in this image?"), ImagePart("https://x.test/a.png"))),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "lookup", '{"q": "cat"}'),)),
        Message("tool", '{"answer": "a cat"}', tool_call_id="call_1"),
    ),
    tools=(
        Tool(
            "lookup",
            "Look a thing up",
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        ),
    ),
    tool_choice="lookup",
    temperature=0.1,
    top_p=0.9,
    seed=42,
    stop=("END",),
    max_tokens=64,
)
SCHEMA_REQUEST = CompletionRequest(
    messages=(Message("user", "Count to three"),),
    response_format=ResponseFormat(
        "json_schema",
        schema={
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
            "additionalProperties": False,
        },
        name="count",
    ),
)


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
@pytest.mark.parametrize(
    "request_",
    [
        CompletionRequest.from_prompt("Hello!", system="Be brief."),
        TOOLS_REQUEST,
        SCHEMA_REQUEST,
        CompletionRequest(
            (Message("user", "json please"),), response_format=ResponseFormat("json_object")
        ),
    ],
    ids=["plain", "tools", "json_schema", "json_object"],
)  # fmt: skip
async def test_requests_are_spec_valid_and_answers_parse(
    prism_url: str, transport: AiohttpTransport, kind: str, request_: CompletionRequest
) -> None:
    adapter = (
        openai_adapter(prism_url, transport)
        if kind == "openai"
        else compatible_adapter(prism_url, transport)
    )
    completion = await adapter.complete(request_, "gpt-4o", timeout_s=10)
    assert completion.finish_reason is FinishReason.STOP
    assert isinstance(completion.content, str)
    assert completion.usage.input_tokens == 0  # Prism's schema-built usage


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
async def test_streaming_request_is_spec_valid(
    prism_url: str, transport: AiohttpTransport, kind: str
) -> None:
    adapter = (
        openai_adapter(prism_url, transport)
        if kind == "openai"
        else compatible_adapter(prism_url, transport)
    )
    request = CompletionRequest(TOOLS_REQUEST.messages, tools=TOOLS_REQUEST.tools, stream=True)
    deltas = [d async for d in adapter.stream(request, "gpt-4o", timeout_s=10)]
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "Hello from Prism."
    assert FinishDelta(FinishReason.STOP) in deltas
    assert any(isinstance(d, UsageDelta) for d in deltas)
    assert not any(isinstance(d, ErrorDelta) for d in deltas)


async def test_prism_rejects_an_invalid_body_so_the_checks_above_mean_something(
    prism_url: str, transport: AiohttpTransport
) -> None:
    response = await transport.post(
        prism_url + "/chat/completions",
        headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
        body=b'{"model": "gpt-4o", "messages": "not a list"}',
        timeout_s=10,
    )
    assert response.status == 422


async def test_rate_limit_answer_is_classified(prism_url: str, transport: AiohttpTransport) -> None:
    adapter = openai_adapter(prism_url, transport, Prefer="code=429")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(CompletionRequest.from_prompt("hi"), "gpt-4o", timeout_s=10)
    assert (caught.value.code, caught.value.retryable) == (ErrorCode.RATE_LIMIT, True)
    assert caught.value.retry_after_s == 1.0


async def test_probe_lists_models(prism_url: str, transport: AiohttpTransport) -> None:
    await openai_adapter(prism_url, transport).probe()
