"""`/v1/messages` over real HTTP, driven by the official `anthropic` SDK.

Upstreams are fakes on real HTTP (fake_upstreams.py) speaking Anthropic's
Messages API (https://docs.claude.com/en/api/messages, streaming per
https://docs.claude.com/en/docs/build-with-claude/streaming) or OpenAI's Chat
Completions, recording what they received. Fixtures: tests/fixtures/anthropic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from fake_upstreams import (
    FakeUpstream,
    anthropic_error,
    openai_chunks,
    sse_frames,
    start_upstream,
)
from server_harness import FAST_RETRIES, RunningServer, Serve

from laneway.events import RequestFinished

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
KEY = "client-key-123"
HI: Any = [{"role": "user", "content": "hi"}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "The weather at a place.",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake, stopper = start_upstream()
    yield fake
    for _ in stopper:
        pass


def _config(url: str, **server: Any) -> dict[str, Any]:
    return {
        "providers": {
            "claude": {"kind": "anthropic", "base_url": url, "api_key": "sk-ant-upstream-secret"},
            "glm": {"kind": "openai_compatible", "base_url": f"{url}/v1", "api_key": "glm-key"},
            "gemini": {"kind": "gemini", "base_url": url, "api_key": "gemini-key"},
        },
        "lanes": {
            "planning": {"primary": "claude/claude-opus-4-7"},
            "background": {"primary": "claude/claude-haiku-4-5"},
            "coding": {"primary": "glm/glm-4.7"},
            "review": {"primary": "gemini/gemini-2.5-flash"},
        },
        "server": {
            "keys": [
                {"key": KEY, "lanes": ["*"]},
                {"key": "background-only", "lanes": ["background"]},
            ],
            "aliases": {
                "claude-opus-*": "planning",
                "claude-haiku-*": "background",
                "claude-sonnet-*": "coding",
            },
            **server,
        },
        "audit": {"enabled": False},
        **FAST_RETRIES,
    }


def _client(server: RunningServer, **options: Any) -> Any:
    """The SDK against laneway. Typed `Any`: the tests send plain dicts (as wire fixtures),
    which the SDK's TypedDict overloads cannot tell apart."""
    options.setdefault("api_key", KEY)
    client: Any = anthropic.Anthropic(base_url=server.url, max_retries=0, **options)
    server.clients.append(client)  # closed with the server: no socket left to the GC
    return client


def _message(**fields: Any) -> dict[str, Any]:
    """A SPEC `Message` as Anthropic's API answers it."""
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-7",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 6,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2000,
        },
    }
    return {**message, **fields}


def test_passthrough_keeps_every_field_and_header(serve: Serve, upstream: FakeUpstream) -> None:
    """cache_control, top_k, stop_sequences, documents, server tools and unknown fields
    reach the Anthropic upstream unchanged; only `model` (routed) and user_id differ."""
    server = serve(_config(upstream.url))
    answer = _message(
        content=[
            {"type": "text", "text": "Per the doc", "citations": [{"type": "char_location"}]},
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        ]
    )
    upstream.replies.append(answer)
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "The sky is blue."},
        "citations": {"enabled": True},
    }
    raw = _client(server).messages.with_raw_response.create(
        model="claude-opus-4-7",
        max_tokens=256,
        system=system,
        messages=[{"role": "user", "content": [document, {"type": "text", "text": "Sky?"}]}],
        tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        stop_sequences=["END"],
        metadata={"user_id": "user-42"},
        extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        extra_body={"top_k": 5, "future_field": {"keep": [1, 2.5, "x"]}},
    )
    sent = upstream.received[0]
    assert sent.path == "/v1/messages"
    assert sent.body == {
        "model": "claude-opus-4-7",
        "max_tokens": 256,
        "system": system,
        "messages": [{"role": "user", "content": [document, {"type": "text", "text": "Sky?"}]}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        "top_k": 5,
        "stop_sequences": ["END"],
        "future_field": {"keep": [1, 2.5, "x"]},
    }
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert sent.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]
    assert sent.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert json.loads(raw.http_response.content) == answer
    assert raw.headers["x-laneway-model"] == "claude/claude-opus-4-7"
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    message = raw.parse()
    assert message.model == "claude-opus-4-7"
    assert message.usage.cache_read_input_tokens == 2000


def test_user_id_is_forwarded_only_when_configured(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url, forward_user_id=True))
    upstream.replies.append(_message())
    _client(server).messages.create(
        model="planning", max_tokens=10, messages=HI, metadata={"user_id": "user-42"}
    )
    assert upstream.received[0].body["metadata"] == {"user_id": "user-42"}


def test_cache_tokens_are_priced(serve: Serve, upstream: FakeUpstream) -> None:
    """claude-opus-4-7 (genai-prices): 5 USD/M input, 0.5 cache read, 6.25 cache write, 25 out."""
    server = serve(_config(upstream.url))
    upstream.replies.append(_message())
    _client(server).messages.create(model="planning", max_tokens=10, messages=HI)
    done = server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(done, RequestFinished)
    expected = (12 * 5 + 2000 * 0.5 + 100 * 6.25 + 6 * 25) / 1_000_000
    assert done.usage.cache_read_tokens == 2000
    assert done.usage.cache_write_tokens == 100
    assert done.usage.cost_usd == pytest.approx(expected)


def test_stream_final_message_equals_the_upstreams(serve: Serve, upstream: FakeUpstream) -> None:
    """The SDK's final message through laneway equals the one it builds from the upstream
    directly: thinking with its signature, text, tool_use, usage with cache reads."""
    server = serve(_config(upstream.url))
    frames = sse_frames((FIXTURES / "stream_thinking.sse").read_text())
    upstream.replies += [list(frames), list(frames)]
    request: dict[str, Any] = {
        "model": "claude-opus-4-7",
        "max_tokens": 2048,
        "messages": HI,
        "tools": [WEATHER_TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    with _client(server).messages.stream(**request) as stream:
        through = stream.get_final_message()
    direct_client: Any = anthropic.Anthropic(base_url=upstream.url, api_key="x", max_retries=0)
    server.clients.append(direct_client)
    with direct_client.messages.stream(**request) as stream:
        direct = stream.get_final_message()
    assert through.model_dump() == direct.model_dump()
    assert through.content[0].type == "thinking"
    assert through.content[0].signature.endswith("Zx\u00e9sig")
    assert upstream.received[0].body["thinking"] == request["thinking"]


def test_thinking_signatures_survive_two_turns(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    signature = "EqQBCgIYAhIM+/=\u00e9" + "A" * 300
    thinking = {"type": "thinking", "thinking": "Call the tool.", "signature": signature}
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    tool_use = {
        "type": "tool_use",
        "id": "toolu_01A",
        "name": "get_weather",
        "input": {"location": "Paris"},
    }
    upstream.replies += [
        _message(content=[thinking, redacted, tool_use], stop_reason="tool_use"),
        _message(),
    ]
    client = _client(server)
    first = client.messages.create(
        model="planning",
        max_tokens=2048,
        messages=HI,
        tools=[WEATHER_TOOL],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    result = {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18 C"}
    client.messages.create(
        model="planning",
        max_tokens=2048,
        messages=[
            *HI,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ],
        tools=[WEATHER_TOOL],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    echoed = upstream.received[1].body["messages"][1]["content"]
    assert echoed[0] == thinking
    assert echoed[1] == redacted
    assert echoed[2] == tool_use
    assert signature.encode() in upstream.received[1].raw  # the same bytes, not re-escaped


def test_auth_forms_old_and_new(serve: Serve, upstream: FakeUpstream) -> None:
    """x-api-key + 2023-06-01 + ?beta=true (Claude Code), and Bearer + a newer version."""
    server = serve(_config(upstream.url))
    upstream.replies += [_message(), _message()]
    old = httpx.post(
        f"{server.url}/v1/messages?beta=true",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-haiku-4-5-20251001", "max_tokens": 5, "messages": HI},
    )
    assert old.status_code == 200, old.text
    new = _client(server, api_key=None, auth_token=KEY).messages.with_raw_response.create(
        model="claude-opus-4-7",
        max_tokens=5,
        messages=HI,
        extra_headers={"anthropic-version": "2026-01-15"},
    )
    assert new.headers["x-laneway-model"] == "claude/claude-opus-4-7"
    assert upstream.received[0].body["model"] == "claude-haiku-4-5"  # the alias chose the lane
    assert upstream.received[1].headers["anthropic-version"] == "2026-01-15"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("bad_key", anthropic.AuthenticationError),
        ("lane_forbidden", anthropic.PermissionDeniedError),
        ("unknown_model", anthropic.NotFoundError),
        ("bad_body", anthropic.BadRequestError),
        ("too_large", anthropic.ContentTooLargeError),
        ("rate_limited", anthropic.RateLimitError),
        ("overloaded", anthropic.OverloadedError),
        ("upstream_auth", anthropic.InternalServerError),
    ],
)
def test_each_error_raises_the_sdks_class(
    serve: Serve, upstream: FakeUpstream, setup: str, error: type[anthropic.APIStatusError]
) -> None:
    server = serve(_config(upstream.url, max_body_bytes=2000))
    client = _client(server, api_key="background-only" if setup == "lane_forbidden" else KEY)
    if setup == "bad_key":
        client = _client(server, api_key="wrong")
    kwargs: dict[str, Any] = {"model": "planning", "max_tokens": 5, "messages": HI}
    if setup == "unknown_model":
        kwargs["model"] = "gpt-9"
    elif setup == "bad_body":
        kwargs["messages"] = []
    elif setup == "too_large":
        kwargs["messages"] = [{"role": "user", "content": "x" * 5000}]
    elif setup == "rate_limited":
        upstream.replies.append(anthropic_error(429, "rate_limit_error", "slow down"))
    elif setup == "overloaded":
        upstream.replies.append(anthropic_error(529, "overloaded_error", "Overloaded"))
    elif setup == "upstream_auth":
        upstream.replies.append(anthropic_error(401, "authentication_error", "bad key"))
    with pytest.raises(error) as caught:
        client.messages.create(**kwargs)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert caught.value.request_id == body["request_id"]
    if setup == "rate_limited":
        assert caught.value.response.headers["retry-after"] == "7"


def test_mid_stream_failure_ends_with_an_error_event(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    frames = sse_frames((FIXTURES / "stream_thinking.sse").read_text())[:10]
    failure = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstream.replies.append(
        [*frames, b"event: error\ndata: " + json.dumps(failure).encode() + b"\n\n"]
    )
    # The SDK raises what Anthropic's own mid-stream `error` event raises: the
    # status error of the 200 response, carrying the event's body (SDK _streaming.py).
    client = _client(server)
    stream = client.messages.stream(model="planning", max_tokens=10, messages=HI).__enter__()
    with pytest.raises(anthropic.APIStatusError) as caught:
        stream.until_done()
    stream.close()
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "overloaded_error"
    assert "Overloaded" in body["error"]["message"]


def test_count_tokens_asks_an_anthropic_upstream(serve: Serve, upstream: FakeUpstream) -> None:
    """SPEC `POST /v1/messages/count_tokens` -> `MessageTokensCount {input_tokens}`."""
    server = serve(_config(upstream.url))
    upstream.replies.append({"input_tokens": 1234})
    raw = _client(server).messages.with_raw_response.count_tokens(
        model="claude-opus-4-7",
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=HI,
    )
    assert raw.parse().input_tokens == 1234
    assert raw.headers["x-laneway-estimate"] == "false"
    sent = upstream.received[0]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == "claude-opus-4-7"
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}


def test_count_tokens_estimates_for_other_models(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    raw = _client(server).messages.with_raw_response.count_tokens(
        model="coding", messages=[{"role": "user", "content": "word " * 400}]
    )
    assert 400 <= raw.parse().input_tokens <= 600
    assert raw.headers["x-laneway-estimate"] == "true"
    assert upstream.received == []


# -- translated: an OpenAI-compatible upstream ----------------------------------


def _chat_completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "glm-4.7",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49},
    }


def test_tool_calls_translate_both_ways(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    call = {
        "id": "call_abc123",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
    }
    upstream.replies += [
        _chat_completion(
            {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
        ),
        _chat_completion({"role": "assistant", "content": "18 C in Paris."}, "stop"),
    ]
    client = _client(server)
    first = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}],
        messages=HI,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
    )
    assert first.stop_reason == "tool_use"
    assert first.model == "glm-4.7"
    block = first.content[0]
    assert block.type == "tool_use"
    assert block.id == "call_abc123"
    assert block.input == {"location": "Paris"}
    sent = upstream.received[0].body
    assert sent["messages"][0] == {"role": "system", "content": "Use tools."}
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    assert sent["tool_choice"] == "required"
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[
            *HI,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_abc123", "content": "18 C"}
                ],
            },
        ],
        tools=[WEATHER_TOOL],
    )
    second = upstream.received[1].body["messages"]
    assert second[1]["tool_calls"][0]["id"] == "call_abc123"
    assert json.loads(second[1]["tool_calls"][0]["function"]["arguments"]) == {"location": "Paris"}
    assert second[2] == {"role": "tool", "content": "18 C", "tool_call_id": "call_abc123"}
    assert raw.parse().content[0].text == "18 C in Paris."
    assert "dropped(cache_control)" not in raw.headers["x-laneway-trace"]


def test_translated_stream_with_tool_calls(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.7"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    call = {
        "index": 0,
        "id": "call_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    upstream.replies.append(
        openai_chunks(
            chunk({"role": "assistant", "content": "Checking."}),
            chunk({"tool_calls": [call]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk({}, "tool_calls"),
        )
    )
    with _client(server).messages.stream(
        model="coding",
        max_tokens=100,
        messages=HI,
        tools=[WEATHER_TOOL],
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        final = stream.get_final_message()
        trace = stream.response.headers["x-laneway-trace"]
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Checking."
    assert final.content[1].id == "call_9"
    assert final.content[1].input == {"location": "Oslo"}
    assert final.stop_reason == "tool_use"
    assert "glm/glm-4.7:dropped(thinking)" in trace
    assert "thinking" not in upstream.received[0].body


def test_untranslatable_feature_is_a_400_naming_it(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    document = {"type": "document", "source": {"type": "url", "url": "https://x.test/a.pdf"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        _client(server).messages.create(
            model="coding",
            max_tokens=10,
            messages=[{"role": "user", "content": [document, {"type": "text", "text": "?"}]}],
            extra_body={"top_k": 3},
        )
    message = caught.value.message
    assert "document blocks" in message
    assert "top_k" in message
    assert upstream.received == []


# -- a Claude Code request, replayed to both kinds of upstream --------------------


def _claude_code() -> tuple[dict[str, Any], dict[str, str]]:
    body = json.loads((FIXTURES / "claude_code_request.json").read_text())
    return body, body.pop("_headers")


def test_claude_code_request_passes_through(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    body, headers = _claude_code()
    upstream.replies.append(sse_frames((FIXTURES / "stream_thinking.sse").read_text()))
    with httpx.stream(
        "POST",
        f"{server.url}/v1/messages?beta=true",
        headers={**headers, "authorization": f"Bearer {KEY}"},
        json=body,
    ) as response:
        events = [line for line in response.iter_lines() if line.startswith("event: ")]
    assert response.status_code == 200
    assert events[0] == "event: message_start"
    assert events[-1] == "event: message_stop"
    sent = upstream.received[0]
    expected = {k: v for k, v in body.items() if k != "metadata"}
    assert sent.body == {**expected, "model": "claude-opus-4-7"}
    assert sent.headers["anthropic-beta"] == headers["anthropic-beta"]
    assert [t["name"] for t in sent.body["tools"]] == [t["name"] for t in body["tools"]]


def test_claude_code_request_translates(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url, aliases={"claude-opus-*": "coding"}))
    body, headers = _claude_code()
    temperature = body.pop("temperature")  # this SDK's `stream()` takes it only as extra_body
    del body["stream"]
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.7"}
    upstream.replies.append(
        openai_chunks(
            {
                **head,
                "choices": [{"index": 0, "delta": {"content": "Done."}, "finish_reason": None}],
            },
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        )
    )
    with _client(server).messages.stream(
        **body,
        extra_headers=headers,
        extra_query={"beta": "true"},
        extra_body={"temperature": temperature},
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Done."
    sent = upstream.received[0].body
    assert len(sent["tools"]) == 20
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][0]["content"].startswith("You are Claude Code")
    assert sent["stream"] is True


def test_pass_through_text_is_screened_before_it_is_sent(
    serve: Serve, upstream: FakeUpstream
) -> None:
    """An e-mail address split over two text deltas never reaches the client: text goes
    through the engine's PII hold-back even when every other event passes through."""
    server = serve(_config(upstream.url))

    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    def text(chunk: str) -> bytes:
        delta = {"type": "text_delta", "text": chunk}
        return event(
            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
        )

    start = {"type": "message_start", "message": {**_message(content=[]), "stop_reason": None}}
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    upstream.replies.append(
        [
            event("message_start", start),
            event("content_block_start", block),
            text("Write to alice.smith@exa"),
            text("mple.com for access."),
            event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            event("message_stop", {"type": "message_stop"}),
        ]
    )
    with httpx.stream(
        "POST",
        f"{server.url}/v1/messages",
        headers={"x-api-key": KEY},
        json={"model": "planning", "max_tokens": 50, "messages": HI, "stream": True},
    ) as response:
        body = response.read().decode()
    assert "alice.smith" not in body
    assert "event: error" in body
    assert "event: message_stop" not in body


def test_wrong_method_answers_in_anthropics_shape(serve: Serve, upstream: FakeUpstream) -> None:
    server = serve(_config(upstream.url))
    response = httpx.get(f"{server.url}/v1/messages", headers={"x-api-key": KEY})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_gemini_lane_translates_tool_calls(serve: Serve, upstream: FakeUpstream) -> None:
    """Gemini's `functionCall` parts (tests/fixtures/gemini) become tool_use blocks."""
    server = serve(_config(upstream.url))
    gemini = json.loads(
        (
            Path(__file__).parents[2] / "fixtures" / "gemini" / "generate_function_call.json"
        ).read_text()
    )
    upstream.replies.append(gemini)
    message = _client(server).messages.create(
        model="review",
        max_tokens=100,
        system="Use tools.",
        messages=HI,
        tools=[WEATHER_TOOL],
    )
    assert message.stop_reason == "tool_use"
    assert [(b.type, b.name, b.input) for b in message.content] == [
        ("tool_use", "get_weather", {"location": "Paris"}),
        ("tool_use", "get_weather", {"location": "Lyon"}),
    ]
    sent = upstream.received[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.body["systemInstruction"]["parts"] == [{"text": "Use tools."}]
    declaration = sent.body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_weather"
