"""The official OpenAI SDK, sync and async, streaming and not, against a real laneway server.

Upstream: the scripted `fake` provider (laneway.providers.fake). Wire shapes the
SDK checks: tests/specs/openai-chat.prism.yaml (CreateChatCompletionResponse,
CreateChatCompletionStreamResponse).
"""

from __future__ import annotations

from server_harness import Serve, fake_config

from laneway.types import ToolCall, Usage

HI = [{"role": "user", "content": "hi"}]


def test_sync_completion_with_routing_headers(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", text="hello there", usage=Usage(5, 2))
    raw = server.client().chat.completions.with_raw_response.create(model="coding", messages=HI)
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello there"
    assert completion.model == "fake/a"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 2)
    assert raw.headers["x-laneway-model"] == "fake/a"
    assert raw.headers["x-laneway-trace"] == "fake/a:success"
    assert raw.headers["x-laneway-decision"].startswith(("static:", "null:"))
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"


def test_fallback_shows_in_the_trace_header(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", error_code="unavailable", status=503)
    server.fake.enqueue("b", text="from b")
    raw = server.client().chat.completions.with_raw_response.create(model="coding", messages=HI)
    assert raw.parse().choices[0].message.content == "from b"
    assert raw.headers["x-laneway-model"] == "fake/b"
    assert raw.headers["x-laneway-trace"].split(",")[-1] == "fake/b:success"
    assert "fake/a" in raw.headers["x-laneway-trace"]


async def test_async_completion(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("c", text="async hello")
    async with server.async_client() as client:
        completion = await client.chat.completions.create(model="chat", messages=HI)
    assert completion.choices[0].message.content == "async hello"
    assert completion.choices[0].finish_reason == "stop"


def test_sync_stream_with_usage_chunk(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", stream_chunks=["Hel", "lo", "!"], usage=Usage(7, 3))
    with server.client().chat.completions.with_streaming_response.create(
        model="coding", messages=HI, stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-laneway-model"] == "fake/a"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello!"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 10


async def test_async_stream_without_usage(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("c", stream_chunks=["a", "b"])
    async with server.async_client() as client:
        stream = await client.chat.completions.create(model="chat", messages=HI, stream=True)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "ab"
    assert all(c.usage is None for c in chunks)


def test_tool_calls_round_trip(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", tool_calls=[ToolCall("call_1", "lookup", '{"q": "x"}')])
    completion = server.client().chat.completions.create(
        model="coding",
        messages=HI,
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.id == "call_1"
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    _, sent = server.fake.calls[-1]
    assert sent.tools[0].name == "lookup"


def test_user_and_metadata_go_to_the_context_not_the_provider(serve: Serve) -> None:
    from laneway.events import RequestStarted

    server = serve()
    server.client().chat.completions.create(
        model="coding",
        messages=HI,
        user="alice",
        metadata={"job_id": "job-7", "team": "infra"},
        extra_headers={"X-Laneway-Phase": "plan", "X-Laneway-Complexity": "high"},
    )
    started = server.wait_for(lambda e: isinstance(e, RequestStarted))
    assert isinstance(started, RequestStarted)
    ctx = started.context
    assert (ctx.lane, ctx.phase, ctx.complexity, ctx.job_id) == ("coding", "plan", "high", "job-7")
    assert ctx.user_id == "alice"
    assert ctx.metadata == {"team": "infra"}
    _, sent = server.fake.calls[-1]
    assert "alice" not in repr(sent)
    assert "infra" not in repr(sent)


def test_an_explicit_model_is_served_by_the_lane_it_heads(serve: Serve) -> None:
    server = serve()
    completion = server.client().chat.completions.create(model="fake/c", messages=HI)
    assert completion.model == "fake/c"


def test_models_lists_what_the_key_may_use(serve: Serve) -> None:
    server = serve(fake_config(server={"keys": [{"key": "k1", "lanes": ["chat"]}, {"key": "k2"}]}))
    limited = sorted(m.id for m in server.client("k1").models.list())
    everything = sorted(m.id for m in server.client("k2").models.list())
    assert limited == ["chat", "fake/c"]
    assert everything == ["chat", "coding", "fake/a", "fake/c"]
