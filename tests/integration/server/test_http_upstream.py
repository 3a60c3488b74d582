"""laneway in front of an OpenAI-wire upstream: a tiny aiohttp server on port 0.

The upstream answers with the OpenAI spec's documented examples
(tests/fixtures/openai, built from tests/specs/openai-chat.prism.yaml:
`POST /chat/completions` "Default" and "Streaming") and OpenAI's documented
error body for 401 and 429 (`{"error": {"message", "type", "param", "code"}}`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from aiohttp import web
from server_harness import Serve, fake_config

FIXTURES = Path(__file__).parents[2] / "fixtures" / "openai"
HI = [{"role": "user", "content": "hi"}]


class Upstream:
    """Answers the next scripted reply: "json", "sse", or an error status."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.seen_auth: list[str] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen_auth.append(request.headers.get("Authorization", ""))
        reply = self.replies.pop(0) if self.replies else "json"
        if reply == "json":
            body = (FIXTURES / "chat_completion.json").read_bytes()
            return web.Response(body=body, content_type="application/json")
        if reply == "sse":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write((FIXTURES / "stream_text.sse").read_bytes())
            await response.write_eof()
            return response
        status = int(reply)
        error = {"message": "upstream says no", "type": "x", "param": None, "code": None}
        headers = {"Retry-After": "4"} if status == 429 else {}
        return web.json_response({"error": error}, status=status, headers=headers)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    fake = Upstream()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.port = sock.getsockname()[1]
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield fake
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


def upstream_config(port: int) -> dict[str, object]:
    return fake_config(
        providers={
            "up": {
                "kind": "openai_compatible",
                "base_url": f"http://127.0.0.1:{port}/v1",
                "api_key": "sk-provider-secret",
            }
        },
        lanes={"remote": {"primary": "up/gpt-4o"}},
    )


def test_completion_through_an_openai_compatible_upstream(serve: Serve, upstream: Upstream) -> None:
    server = serve(upstream_config(upstream.port))
    raw = server.client("client-key").chat.completions.with_raw_response.create(
        model="remote", messages=HI
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello! How can I assist you today?"
    assert completion.model == "up/gpt-4o"  # the configured model that served
    assert raw.headers["x-laneway-model"] == completion.model
    assert raw.headers["x-laneway-provider-model"] == "gpt-4o-2024-08-06"  # the upstream's name
    assert upstream.seen_auth == ["Bearer sk-provider-secret"]  # the client's key never leaves
    assert "sk-provider-secret" not in raw.text


def test_stream_through_an_openai_compatible_upstream(serve: Serve, upstream: Upstream) -> None:
    server = serve(upstream_config(upstream.port))
    upstream.replies.append("sse")
    chunks = list(
        server.client().chat.completions.create(
            model="remote", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Hello")
    assert chunks[-1].usage is not None


def test_upstream_auth_failure_is_502_without_its_body(serve: Serve, upstream: Upstream) -> None:
    server = serve(upstream_config(upstream.port))
    upstream.replies.append("401")
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="remote", messages=HI)
    assert info.value.status_code == 502
    assert "sk-provider-secret" not in info.value.response.text


def test_upstream_rate_limit_is_429_with_its_retry_after(serve: Serve, upstream: Upstream) -> None:
    server = serve(upstream_config(upstream.port))
    upstream.replies += ["429"] * 3
    with pytest.raises(openai.RateLimitError) as info:
        server.client().chat.completions.create(model="remote", messages=HI)
    assert info.value.response.headers["retry-after"] == "4"
