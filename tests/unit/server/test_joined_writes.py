"""`HttpProtocol`: uvicorn over real sockets, each answer's writes in one loop pass sent as one.

A recorder between the socket transport and the protocol counts the writes
that reach the socket; a raw client reads what arrives (RFC 9112 framing:
content-length and chunked bodies). Server and client share the test's loop, on
virtual time (tests/virtual_time.py): the app's pauses and uvicorn's timers take
no real time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn

from laneway.server.protocol import HttpProtocol

pytestmark = pytest.mark.virtual_time

Send = Callable[[dict[str, Any]], Awaitable[None]]
Body = list[tuple[bytes, float]]  # body parts, each sent after a pause (seconds)

WRITES: list[bytes] = []


class _Recorder:
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _Spied(HttpProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        recorder: Any = _Recorder(transport)
        super().connection_made(recorder)


def _app(parts: Body, *, stream: bool) -> Callable[..., Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = (
            [] if stream else [(b"content-length", str(sum(len(p) for p, _ in parts)).encode())]
        )
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, (part, pause) in enumerate(parts):
            if pause:
                await asyncio.sleep(pause)
            more = index + 1 < len(parts)
            await send({"type": "http.response.body", "body": part, "more_body": more})

    return app


@pytest.fixture
async def server() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(parts: Body, *, stream: bool = False) -> int:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            _app(parts, stream=stream), http=_Spied, lifespan="off", log_level="warning"
        )
        instance = uvicorn.Server(config)
        servers.append((instance, asyncio.create_task(instance.serve(sockets=[sock]))))
        while not instance.started:  # noqa: ASYNC110 (uvicorn offers no start signal but this flag)
            await asyncio.sleep(0.005)
        WRITES.clear()
        return int(sock.getsockname()[1])

    yield start
    for instance, task in servers:
        instance.should_exit = True
        await task


async def _ask(port: int, *, until: bytes, close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = b"close" if close else b"keep-alive"
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: " + connection + b"\r\n\r\n")
    answer = b""
    while not answer.endswith(until):
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        answer += chunk
    writer.close()
    return answer


async def test_a_json_answer_is_one_write(server: Callable[..., Awaitable[int]]) -> None:
    port = await server([(b'{"answer": "done"}', 0.0)])
    answer = await _ask(port, until=b"}")
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert [answer] == WRITES


async def test_stream_parts_ready_together_are_one_write(
    server: Callable[..., Awaitable[int]],
) -> None:
    port = await server([(b"data: 1\n\n", 0.0), (b"data: 2\n\n", 0.0), (b"done", 0.0)], stream=True)
    answer = await _ask(port, until=b"0\r\n\r\n")
    assert b"data: 2" in answer
    assert len(WRITES) == 1


async def test_stream_parts_apart_in_time_are_not_held_back(
    server: Callable[..., Awaitable[int]],
) -> None:
    """Only one loop pass is joined: a part sent after a pause goes out on its own."""
    port = await server(
        [(b"data: 1\n\n", 0.0), (b"data: 2\n\n", 0.05), (b"done", 0.05)], stream=True
    )
    await _ask(port, until=b"0\r\n\r\n")
    assert len(WRITES) == 3
    assert WRITES[0].startswith(b"HTTP/1.1 200 OK")
    assert b"data: 1" in WRITES[0]
    assert b"data: 2" in WRITES[1]


async def test_a_closing_connection_sends_what_is_queued_first(
    server: Callable[..., Awaitable[int]],
) -> None:
    port = await server([(b'{"answer": "done"}', 0.0)])
    answer = await _ask(port, until=b"}", close=True)
    assert b"connection: close" in answer.lower()
    assert answer.endswith(b'{"answer": "done"}')
