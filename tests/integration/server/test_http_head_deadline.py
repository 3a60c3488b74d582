"""A connection that never finishes its request head is closed; real requests never are.

The server (laneway's app under uvicorn with `HttpProtocol`, as `laneway serve`
runs it) and its raw clients share the test's event loop, on virtual time
(tests/virtual_time.py): the sweeps run at their default period and every wait
below is a virtual one. The gateway's clock is the loop's, so a slow provider is
slow on the clock the sweeps read. Clients speak HTTP/1.1 as RFC 9112 frames it
(request line, headers, CRLF).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import pytest
import uvicorn
from server_harness import fake_config

from laneway.engine.gateway import Gateway
from laneway.providers.fake import FakeAdapter
from laneway.server.app import create_app
from laneway.server.protocol import HttpProtocol
from virtual_time import LoopClock

pytestmark = pytest.mark.virtual_time

SWEEP_S = HttpProtocol.head_sweep_s
#: uvicorn's keep-alive, raised from its 5 s so that sweeps pass while a connection idles
KEEP_ALIVE_S = 4 * SWEEP_S
HI = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class InLoopServer:
    port: int
    fake: FakeAdapter


@pytest.fixture
async def server() -> AsyncIterator[InLoopServer]:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    gateway = Gateway.from_config(fake_config(), env={}, clock=clock)
    app = create_app(gateway, env={}, clock=clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http=HttpProtocol,
        lifespan="on",
        log_level="warning",
        timeout_keep_alive=int(KEEP_ALIVE_S),
    )
    instance = uvicorn.Server(config)
    serving = asyncio.create_task(instance.serve(sockets=[sock]))
    while not instance.started:  # noqa: ASYNC110 (uvicorn offers no start signal but this flag)
        await asyncio.sleep(0.01)
    fake = gateway.adapter("fake")
    assert isinstance(fake, FakeAdapter)
    yield InLoopServer(int(sock.getsockname()[1]), fake)
    instance.should_exit = True
    await serving


@contextlib.asynccontextmanager
async def connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


def request(body: Mapping[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """An answer's head, its body read to its content-length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return head


@pytest.mark.parametrize(
    "sent", [b"", b"POST /v1/chat/comp", b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n"]
)
async def test_a_connection_stuck_before_its_head_ends_is_closed(
    server: InLoopServer, sent: bytes
) -> None:
    loop = asyncio.get_running_loop()
    async with connection(server.port) as (reader, writer):
        writer.write(sent)
        started = loop.time()
        async with asyncio.timeout(3 * SWEEP_S):  # never closed: a TimeoutError
            assert await reader.read(1024) == b""
    # the server's first connection starts its sweeps: the first finds it waiting for
    # its head, the second (no request begun between) closes it
    assert loop.time() - started == pytest.approx(2 * SWEEP_S)


async def test_a_slow_answer_and_a_kept_alive_connection_are_not_cut(
    server: InLoopServer,
) -> None:
    """A provider slower than two sweeps, two sweeps of keep-alive, then a second request
    on the same connection (the multiples of a sweep keep sweeps off the request's edges)."""
    loop = asyncio.get_running_loop()
    server.fake.enqueue("c", delay_s=2.5 * SWEEP_S, text="late but whole")
    async with connection(server.port) as (reader, writer), asyncio.timeout(10 * SWEEP_S):
        started = loop.time()
        writer.write(request(HI))
        assert (await read_answer(reader)).startswith(b"HTTP/1.1 200")
        assert loop.time() - started == pytest.approx(2.5 * SWEEP_S)
        await asyncio.sleep(2.2 * SWEEP_S)  # idle, inside the keep-alive: the connection stays
        writer.write(request(HI))
        assert (await read_answer(reader)).startswith(b"HTTP/1.1 200")
