"""The openai / openai_compatible adapter: what only this kind does (presets, org headers,
structured output, refusals, its stream events). What every kind does alike (request
shape, parsing, SSE sequences, error classification) is tests/conformance/test_providers.py.

Wire format: tests/specs/openai-chat.prism.yaml (`POST /chat/completions`,
`CreateChatCompletionRequest`, `CreateChatCompletionResponse`,
`CreateChatCompletionStreamResponse`, `ErrorResponse`); fixture bodies in
tests/fixtures/openai/ are that spec's own examples (see its README).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.clock import FakeClock
from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import HttpxTransport
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import (
    CompletionRequest,
    ErrorDelta,
    FinishReason,
    ModelInfo,
    ResponseFormat,
    TextDelta,
    Tool,
)
from wire_helpers import collect, left_to_the_loop

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openai"
KEY = "sk-test-0123456789abcdefghijklmnop"
Handler = Callable[[httpx.Request], Awaitable[httpx.Response] | httpx.Response]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Upstream:
    """A MockTransport upstream that records every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.reply: Callable[[httpx.Request], httpx.Response] = lambda _: httpx.Response(
            200, content=fixture("chat_completion.json")
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[-1].content)
        return data


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
async def transport(upstream: Upstream) -> AsyncIterator[HttpxTransport]:
    http = HttpxTransport(transport=httpx.MockTransport(upstream.handler))
    yield http
    await http.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(
    transport: HttpxTransport,
    clock: FakeClock,
    spec: OpenAIProvider | OpenAICompatibleProvider | None = None,
    *,
    env: dict[str, str] | None = None,
    catalog: dict[str, ModelInfo] | None = None,
) -> OpenAIAdapter:
    spec = spec or OpenAIProvider(kind="openai")
    deps = AdapterDeps(
        transport=transport,
        clock=clock,
        env={"OPENAI_API_KEY": KEY} if env is None else env,
        catalog=catalog or {},
    )
    return OpenAIAdapter("openai", spec, deps)


def error(status: int, body: dict[str, Any] | bytes, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


REQUEST = CompletionRequest.from_prompt("Hello!", system="You are a helpful assistant.")


# -- success -------------------------------------------------------------------


async def test_structured_output_request_and_answer(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    answer = json.loads(fixture("chat_completion.json"))
    answer["choices"][0]["message"]["content"] = '{"n": 3}'
    upstream.reply = lambda _: httpx.Response(200, json=answer)
    request = CompletionRequest(
        messages=REQUEST.messages,
        response_format=ResponseFormat("json_schema", schema=schema, name="count"),
        seed=7,
        max_tokens=50,
    )
    completion = await make(transport, clock).complete(request, "gpt-4o", timeout_s=5)
    assert upstream.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "count", "schema": schema, "strict": True},
    }
    assert upstream.body["seed"] == 7
    assert upstream.body["max_completion_tokens"] == 50
    assert json.loads(completion.content) == {"n": 3}


async def test_refusal_reads_as_content_filter(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    answer = json.loads(fixture("chat_completion.json"))
    answer["choices"][0]["message"].update(content=None, refusal="I can't help with that.")
    upstream.reply = lambda _: httpx.Response(200, json=answer)
    completion = await make(transport, clock).complete(REQUEST, "gpt-4o", timeout_s=5)
    assert completion.finish_reason is FinishReason.CONTENT_FILTER
    assert completion.content == "I can't help with that."


async def test_finish_reason_content_filter_maps(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    answer = json.loads(fixture("chat_completion.json"))
    answer["choices"][0]["finish_reason"] = "content_filter"
    upstream.reply = lambda _: httpx.Response(200, json=answer)
    completion = await make(transport, clock).complete(REQUEST, "gpt-4o", timeout_s=5)
    assert completion.finish_reason is FinishReason.CONTENT_FILTER


# -- streaming -----------------------------------------------------------------


def sse_response(chunks: list[bytes], *, fail: Exception | None = None) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if fail is not None:
            raise fail

    return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})


async def test_a_stream_stopped_at_done_closes_the_transports_chunk_generator(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    """Bytes after `data: [DONE]` are never read: the transport's chunk generator is closed
    by the adapter then, not left to the event loop (which closes it in a task of its own)."""
    raw = fixture("stream_text.sse")
    upstream.reply = lambda _: sse_response([raw, b": trailing keep-alive\n\n"])
    adapter = make(transport, clock)
    with left_to_the_loop() as unclosed:
        deltas = await collect(adapter.stream(REQUEST, "gpt-4o-mini", timeout_s=5))
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello", " there"]
    assert "_StreamBase.iter_bytes" not in unclosed  # httpx's own inner iterators are its own


# -- providers, presets, headers -----------------------------------------------


@pytest.mark.parametrize(
    ("preset", "env_var", "url"),
    [
        ("github", "GITHUB_TOKEN", "https://models.github.ai/inference/chat/completions"),
        ("zai", "ZAI_API_KEY", "https://api.z.ai/api/paas/v4/chat/completions"),
        ("openrouter", "OPENROUTER_API_KEY", "https://openrouter.ai/api/v1/chat/completions"),
        ("groq", "GROQ_API_KEY", "https://api.groq.com/openai/v1/chat/completions"),
        ("together", "TOGETHER_API_KEY", "https://api.together.xyz/v1/chat/completions"),
        ("ollama", None, "http://127.0.0.1:11434/v1/chat/completions"),
        ("vllm", None, "http://127.0.0.1:8000/v1/chat/completions"),
        ("llamacpp", None, "http://127.0.0.1:8080/v1/chat/completions"),
    ],
)
async def test_presets_post_to_their_server_with_their_key(
    upstream: Upstream,
    transport: HttpxTransport,
    clock: FakeClock,
    preset: Any,
    env_var: str | None,
    url: str,
) -> None:
    spec = OpenAICompatibleProvider(kind="openai_compatible", preset=preset)
    env = {env_var: "token-xyz"} if env_var else {}
    request = CompletionRequest(messages=REQUEST.messages, max_tokens=20)
    await make(transport, clock, spec, env=env).complete(request, "some-model", timeout_s=5)
    sent = upstream.requests[-1]
    assert str(sent.url) == url
    if env_var:
        assert sent.headers["authorization"] == "Bearer token-xyz"
    else:
        assert "authorization" not in sent.headers
    assert upstream.body["max_tokens"] == 20
    assert "max_completion_tokens" not in upstream.body


async def test_github_models_org_path(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    """https://docs.github.com/en/rest/models/inference: org-attributed inference."""
    spec = OpenAICompatibleProvider(kind="openai_compatible", preset="github", org="acme")
    adapter = make(transport, clock, spec, env={"GITHUB_TOKEN": "ghp_token"})
    await adapter.complete(REQUEST, "openai/gpt-4.1", timeout_s=5)
    sent = upstream.requests[-1]
    assert str(sent.url) == "https://models.github.ai/orgs/acme/inference/chat/completions"
    assert sent.headers["authorization"] == "Bearer ghp_token"
    assert upstream.body["model"] == "openai/gpt-4.1"


async def test_openai_org_project_and_extra_headers(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    spec = OpenAIProvider(
        kind="openai", org="org-1", project="proj_2", headers={"X-Team": "search"}
    )
    await make(transport, clock, spec).complete(REQUEST, "gpt-4o", timeout_s=5)
    headers = upstream.requests[-1].headers
    assert headers["openai-organization"] == "org-1"
    assert headers["openai-project"] == "proj_2"
    assert headers["x-team"] == "search"


async def test_base_url_override_wins_over_the_preset(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    spec = OpenAICompatibleProvider(
        kind="openai_compatible", preset="vllm", base_url="http://gpu-box:9000/v1/"
    )
    await make(transport, clock, spec, env={}).complete(REQUEST, "qwen", timeout_s=5)
    assert str(upstream.requests[-1].url) == "http://gpu-box:9000/v1/chat/completions"


def test_check_credentials_reports_without_network(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    [missing] = make(transport, clock, env={}).check_credentials()
    [present] = make(transport, clock).check_credentials()
    assert (missing.present, present.present) == (False, True)
    assert missing.problem is not None
    assert "OPENAI_API_KEY" in missing.problem
    assert upstream.requests == []


@pytest.mark.parametrize(
    "event",
    [
        b"data: {not json\n\n",
        b'data: {"choices": [{"delta": "text"}]}\n\n',
        b"data: [1]\n\n",
        b'data: {"choices": {"0": {"delta": {"content": "hi"}}}}\n\n',
        b'data: {"choices": "hi"}\n\n',
    ],
    ids=["not-json", "wrong-type", "not-object", "choices-an-object", "choices-a-string"],
)
async def test_malformed_stream_event_ends_with_invalid_response(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock, event: bytes
) -> None:
    upstream.reply = lambda _: sse_response([event, b"data: [DONE]\n\n"])
    deltas = await collect(make(transport, clock).stream(REQUEST, "gpt-4o-mini", timeout_s=5))
    assert len(deltas) == 1
    assert isinstance(deltas[0], ErrorDelta)
    assert deltas[0].error.code is ErrorCode.INVALID_RESPONSE


# -- an upstream that answers garbage ------------------------------------------------


def completion_with(**message_and_body: Any) -> bytes:
    """The spec's documented chat.completion (tests/fixtures/openai), fields replaced."""
    body = json.loads(fixture("chat_completion.json"))
    for key, value in message_and_body.items():
        if key in ("tool_calls", "content"):
            body["choices"][0]["message"][key] = value
        else:
            body[key] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "garbage",
    [
        {"tool_calls": 5},
        {
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": 5}}
            ]
        },
        {
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": []}}
            ]
        },
    ],
)
async def test_tool_calls_of_the_wrong_json_type_are_an_invalid_response(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock, garbage: dict[str, Any]
) -> None:
    """They raised TypeError later, in the output checks: an HTTP 500 from the server."""
    upstream.reply = lambda _: httpx.Response(200, content=completion_with(**garbage))
    with pytest.raises(ProviderError) as caught:
        await make(transport, clock).complete(REQUEST, "gpt-4o", timeout_s=5)
    assert caught.value.code is ErrorCode.INVALID_RESPONSE
    assert "tool_calls" in caught.value.message or "arguments" in caught.value.message


async def test_garbage_usage_and_model_fields_do_not_reach_the_caller(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    """Negative or astronomic counts (they went into budgets, and past 64 bits killed the
    audit writer) read as 0; a model name that is no short string is not the upstream's
    (the engine names the model asked for)."""
    usage = {"prompt_tokens": -5, "completion_tokens": 1e308, "total_tokens": 10**30}
    upstream.reply = lambda _: httpx.Response(
        200, content=completion_with(usage=usage, model={"a": [1]})
    )
    completion = await make(transport, clock).complete(REQUEST, "gpt-4o", timeout_s=5)
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (0, 0)
    assert completion.provider_model is None


async def test_a_stream_tool_call_with_object_arguments_ends_as_an_invalid_response(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    chunk = {
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}]}}],
    }  # fmt: skip
    sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    upstream.reply = lambda _: httpx.Response(
        200, content=sse, headers={"content-type": "text/event-stream"}
    )
    deltas = await collect(make(transport, clock).stream(REQUEST, "gpt-4o", timeout_s=5))
    [error] = [d.error for d in deltas if isinstance(d, ErrorDelta)]
    assert error.code is ErrorCode.INVALID_RESPONSE


async def test_a_tool_text_utf8_cannot_hold_is_a_bad_request_before_any_call(
    upstream: Upstream, transport: HttpxTransport, clock: FakeClock
) -> None:
    """A lone surrogate (a cut emoji pair) in a tool's description: refused, nothing sent."""
    request = CompletionRequest(
        messages=REQUEST.messages,
        tools=(Tool("lookup", description="finds \ud83d things"),),
    )
    with pytest.raises(ProviderError) as caught:
        await make(transport, clock).complete(request, "gpt-4o", timeout_s=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert "U+D83D" in str(caught.value)
    assert "errors='replace'" in str(caught.value)
    assert upstream.requests == []
