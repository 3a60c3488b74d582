"""A stream's writes: what one upstream read brought goes to the client in one `send`.

The app is called over raw ASGI; the upstream is the Chat Completions adapter
(`openai_compatible`) over an `httpx.MockTransport` whose body comes in the
given pieces, each one read. Events are `chat.completion.chunk`s as in
tests/fixtures/openai/stream_text.sse (openai-openapi.yaml's "Streaming"
example); the client sees OpenAI chunks or Anthropic Messages events
(anthropic-wire-format.md "Streaming").
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from laneway.engine.gateway import Gateway
from laneway.http import HttpxTransport
from laneway.server.app import create_app
from wire_helpers import CHUNK_FINISH as FINISH
from wire_helpers import CHUNK_USAGE as USAGE
from wire_helpers import SSE_DONE as DONE
from wire_helpers import Reads
from wire_helpers import chunk_text as text


async def bodies(path: str, request: dict[str, Any], *reads: bytes) -> list[bytes]:
    """The body of every `send` the app made for one streamed request."""

    def upstream(_: httpx.Request) -> httpx.Response:
        headers = {"content-type": "text/event-stream"}
        return httpx.Response(200, stream=Reads(*reads), headers=headers)

    config = {
        "providers": {"up": {"kind": "openai_compatible", "base_url": "http://up.test/v1"}},
        "lanes": {"work": {"primary": "up/m", "pii": {"scan": False}}},
        "server": {"keys": [{"key": "client-key", "name": "client"}]},
        "audit": {"enabled": False},
    }
    transport = HttpxTransport(transport=httpx.MockTransport(upstream))
    gateway = Gateway.from_config(config, env={}, transport=transport)
    app = create_app(gateway, env={})
    body = orjson.dumps({"model": "work", "stream": True, "max_tokens": 64, **request})
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer client-key"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    await gateway.aclose()
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    return [message["body"] for message in sent[1:]]


def data_of(body: bytes) -> list[Any]:
    lines = [line for line in body.split(b"\n") if line.startswith(b"data: ")]
    return [line[6:].decode() if line == DONE[:-2] else orjson.loads(line[6:]) for line in lines]


HI = {"messages": [{"role": "user", "content": "hi"}]}


async def test_a_chat_stream_sends_once_per_upstream_read() -> None:
    sends = await bodies(
        "/v1/chat/completions",
        {**HI, "stream_options": {"include_usage": True}},
        text("Hel") + text("lo") + text(" there"),
        FINISH + USAGE + DONE,
    )

    assert len(sends) == 2
    opening, content = data_of(sends[0])
    assert opening["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert content["choices"][0]["delta"] == {"content": "Hello there"}
    finish, usage, done = data_of(sends[1])
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["usage"]["prompt_tokens"] == 9
    assert done == "[DONE]"


async def test_a_chat_stream_sends_each_read_as_it_comes() -> None:
    sends = await bodies(
        "/v1/chat/completions", HI, text("Hel"), text("lo") + text(" there"), FINISH + DONE
    )

    contents = [
        [chunk["choices"][0]["delta"].get("content") for chunk in data_of(body)[-1:]]
        for body in sends[:2]
    ]
    assert contents == [["Hel"], ["lo there"]]
    assert data_of(sends[2])[-1] == "[DONE]"
    assert len(sends) == 3


async def test_a_messages_stream_sends_once_per_upstream_read() -> None:
    sends = await bodies(
        "/v1/messages", HI, text("Hel") + text("lo") + text(" there"), FINISH + USAGE + DONE
    )

    assert len(sends) == 2
    kinds = [item["type"] for item in data_of(sends[0])]
    assert kinds == ["message_start", "content_block_start", "content_block_delta"]
    assert data_of(sends[0])[-1]["delta"] == {"type": "text_delta", "text": "Hello there"}
    closing = [item["type"] for item in data_of(sends[1])]
    assert closing == ["content_block_stop", "message_delta", "message_stop"]
