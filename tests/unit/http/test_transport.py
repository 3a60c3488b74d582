"""The HTTP edge: the production client and the test double on real local sockets.

The local upstream answers with the `chat.completion` example of
tests/specs/openai-chat.prism.yaml (tests/fixtures/openai/chat_completion.json).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from laneway.clock import FakeClock
from laneway.config.schema import OpenAICompatibleProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import (
    AiohttpTransport,
    HttpTransport,
    HttpxTransport,
    TransportError,
    default_transport,
)
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import CompletionRequest, ErrorDelta, TextDelta

BODY = (Path(__file__).parents[2] / "fixtures" / "openai" / "chat_completion.json").read_bytes()


def closed_port() -> int:
    """A port nobody listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class LocalUpstream:
    """A tiny aiohttp server; `peers` records the client port of each request."""

    def __init__(self) -> None:
        self.peers: list[object] = []
        self.cookies: list[str | None] = []  # the Cookie header of each chat request
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/slow", self.slow)
        app.router.add_post("/cut", self.cut)
        app.router.add_post("/login", self.login)
        self.runner = web.AppRunner(app)
        self.url = ""

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def chat(self, request: web.Request) -> web.Response:
        transport = request.transport
        self.peers.append(transport.get_extra_info("peername") if transport else None)
        self.cookies.append(request.headers.get("Cookie"))
        return web.Response(body=BODY, content_type="application/json", headers={"X-Req": "1"})

    async def login(self, request: web.Request) -> web.Response:
        response = web.Response(body=BODY, content_type="application/json")
        response.set_cookie("session", "tenant-a")
        return response

    async def slow(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return web.Response(body=BODY)

    async def cut(self, request: web.Request) -> web.StreamResponse:
        """Start an SSE stream, send one event, then drop the connection."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        chunk = (
            b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
        )
        await response.write(chunk)
        assert request.transport is not None
        request.transport.close()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[LocalUpstream]:
    server = LocalUpstream()
    await server.start()
    yield server
    server.release.set()
    await server.runner.cleanup()


@pytest.fixture(params=["aiohttp", "httpx"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[HttpTransport]:
    """The production client, and the test double over httpx's real network transport."""
    http: HttpTransport
    if request.param == "aiohttp":
        http = default_transport()
    else:
        http = HttpxTransport(transport=httpx.AsyncHTTPTransport())
    yield http
    await http.aclose()


async def test_post_reads_status_lowercased_headers_and_body(
    upstream: LocalUpstream, transport: HttpTransport
) -> None:
    response = await transport.post(
        upstream.url + "/v1/chat/completions", headers={}, body=b"{}", timeout_s=5
    )
    assert response.status == 200
    assert response.headers["x-req"] == "1"
    assert response.body == BODY


async def test_connections_are_kept_alive(
    upstream: LocalUpstream, transport: HttpTransport
) -> None:
    for _ in range(3):
        await transport.post(
            upstream.url + "/v1/chat/completions", headers={}, body=b"{}", timeout_s=5
        )
    assert len(set(upstream.peers)) == 1


async def test_a_cookie_set_by_one_answer_is_not_sent_with_the_next_request(
    upstream: LocalUpstream,
) -> None:
    """One client serves every tenant: what an upstream set for one caller stays there.

    By name, not IP address: aiohttp's default jar keeps no cookie of an IP address.
    """
    url = upstream.url.replace("127.0.0.1", "localhost")
    http = default_transport()
    try:
        await http.post(url + "/login", headers={}, body=b"{}", timeout_s=5)
        await http.post(url + "/v1/chat/completions", headers={}, body=b"{}", timeout_s=5)
    finally:
        await http.aclose()
    assert upstream.cookies == [None]


async def test_connection_refused_is_a_network_error(transport: HttpTransport) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"
    with pytest.raises(TransportError) as caught:
        await transport.post(url, headers={}, body=b"{}", timeout_s=5)
    assert caught.value.kind == "network"
    assert "connection refused" in str(caught.value)


async def test_unknown_host_is_a_network_error(transport: HttpTransport) -> None:
    with pytest.raises(TransportError) as caught:
        await transport.post("http://no-such-host.invalid/x", headers={}, body=b"", timeout_s=5)
    assert caught.value.kind == "network"


@pytest.mark.virtual_time
async def test_no_answer_within_the_timeout_is_a_timeout(
    upstream: LocalUpstream, transport: HttpTransport
) -> None:
    """On virtual time (tests/virtual_time.py), with the upstream in the test's loop."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError) as caught:
        await transport.post(upstream.url + "/slow", headers={}, body=b"{}", timeout_s=2)
    assert caught.value.kind == "timeout"
    assert loop.time() - started == pytest.approx(2)


@pytest.mark.virtual_time
async def test_stream_timeout_before_headers(
    upstream: LocalUpstream, transport: HttpTransport
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError) as caught:
        await transport.open_stream(upstream.url + "/slow", headers={}, body=b"", timeout_s=2)
    assert caught.value.kind == "timeout"
    assert loop.time() - started == pytest.approx(2)


async def test_adapter_stream_cut_by_a_real_server_ends_with_an_error_delta(
    upstream: LocalUpstream, transport: HttpTransport
) -> None:
    spec = OpenAICompatibleProvider(kind="openai_compatible", base_url=upstream.url)
    deps = AdapterDeps(transport=transport, clock=FakeClock())
    adapter = OpenAIAdapter("local-llm", spec, deps)
    adapter.url = upstream.url + "/cut"
    request = CompletionRequest.from_prompt("hi")
    deltas = [d async for d in adapter.stream(request, "m", timeout_s=5)]
    assert deltas[0] == TextDelta("Hel")
    assert isinstance(deltas[-1], ErrorDelta)
    assert deltas[-1].error.code in (ErrorCode.NETWORK, ErrorCode.INVALID_RESPONSE)


async def test_adapter_connection_refused_is_a_network_provider_error(
    transport: HttpTransport,
) -> None:
    spec = OpenAICompatibleProvider(
        kind="openai_compatible", base_url=f"http://127.0.0.1:{closed_port()}/v1"
    )
    adapter = OpenAIAdapter("vllm", spec, AdapterDeps(transport=transport, clock=FakeClock()))
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(CompletionRequest.from_prompt("hi"), "m", timeout_s=5)
    assert caught.value.code is ErrorCode.NETWORK


async def test_httpx_mock_transport_errors_are_translated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("boom", request=request)

    http = HttpxTransport(transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(TransportError) as caught:
            await http.post("http://x.test/", headers={}, body=b"", timeout_s=1)
        assert caught.value.kind == "network"
        assert isinstance(caught.value.__cause__, httpx.ConnectError)
    finally:
        await http.aclose()


def test_aiohttp_transport_is_bound_to_its_loop() -> None:
    http = AiohttpTransport()
    url = f"http://127.0.0.1:{closed_port()}/"
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        with pytest.raises(TransportError):
            first.run_until_complete(http.post(url, headers={}, body=b"", timeout_s=1))
        with pytest.raises(RuntimeError, match="one event loop"):
            second.run_until_complete(http.post(url, headers={}, body=b"", timeout_s=1))
    finally:
        first.run_until_complete(http.aclose())
        first.close()
        second.close()


def test_the_default_transport_is_aiohttp() -> None:
    assert isinstance(default_transport(), AiohttpTransport)


async def test_the_test_double_refuses_a_redirect_like_the_client() -> None:
    """Adapters under test see what they would in production: a 3xx is an error."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(308, headers={"Location": "https://b.test/v2/x"})

    http = HttpxTransport(transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(TransportError) as caught:
            await http.post("https://a.test/v1/x", headers={}, body=b"", timeout_s=1)
        assert caught.value.kind == "redirect"
        assert caught.value.location == "https://b.test/v2/x"
    finally:
        await http.aclose()
