"""Fake upstreams on real HTTP (aiohttp, port 0, own thread), recording what they received.

`/v1/messages` answers as Anthropic's Messages API does: JSON `Message`
bodies, SSE in the documented event order (tests/fixtures/anthropic, after
https://docs.claude.com/en/docs/build-with-claude/streaming) and error bodies
`{"type":"error","error":{"type","message"},"request_id"}`
(https://docs.claude.com/en/api/errors). `/v1/chat/completions` answers as
OpenAI's Chat Completions does (its OpenAPI spec: `CreateChatCompletionResponse`,
`CreateChatCompletionStreamResponse` chunks ending in `data: [DONE]`), and
`/v1beta/models/{model}:generateContent` as Gemini does (tests/fixtures/gemini).

Each reply is scripted: a JSON object, a list of SSE frames (bytes), or an
error `(status, body, headers)`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = dict[str, Any] | list[bytes] | tuple[int, dict[str, Any], dict[str, str]]


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.raw)
        return value


@dataclass
class FakeUpstream:
    replies: list[Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append(Received(request.path, request.query_string, headers, raw))
        reply = self.replies.pop(0)
        if isinstance(reply, dict):
            return web.json_response(reply, headers={"request-id": "req_upstream"})
        if isinstance(reply, tuple):
            status, body, extra = reply
            return web.json_response(body, status=status, headers=extra)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in reply:
            await response.write(frame)
        await response.write_eof()
        return response


def sse_frames(text: str) -> list[bytes]:
    """An .sse fixture as one frame per event."""
    return [frame.encode() + b"\n\n" for frame in text.strip().split("\n\n")]


def openai_chunks(*chunks: dict[str, Any]) -> list[bytes]:
    frames = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
    return [*frames, b"data: [DONE]\n\n"]


def anthropic_error(
    status: int, kind: str, message: str
) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_x"}
    return status, body, {"retry-after": "7"} if status == 429 else {}


def start_upstream() -> tuple[FakeUpstream, Iterator[None]]:
    """A running fake and a generator whose exhaustion stops it."""
    fake = FakeUpstream()
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/messages", fake.handle)
    app.router.add_post("/v1/messages/count_tokens", fake.handle)
    app.router.add_post("/v1/chat/completions", fake.handle)
    app.router.add_post("/v1beta/models/{call}", fake.handle)  # Gemini's generateContent
    runner = web.AppRunner(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.port = sock.getsockname()[1]
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.SockSite(runner, sock).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def stop() -> Iterator[None]:
        yield
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.run_until_complete(runner.cleanup())
        loop.close()
        sock.close()

    return fake, stop()
