"""laneway's own HTTP/1.1 client against raw local servers that send exact bytes.

Each server speaks HTTP/1.1 as RFC 9112 frames it (status line, headers,
content-length or chunked bodies, connection close), so the cases a
library would hide are tested on the wire: chunked and gzip bodies, a body
ended by the connection, an idle connection the server closed, a half-read
response, TLS with a certificate the client must verify.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from wire_helpers import ask, collect, left_to_the_loop

from laneway.clock import FakeClock
from laneway.config.schema import OpenAIProvider
from laneway.providers import _http1
from laneway.providers.base import AdapterDeps
from laneway.providers.http import TransportError
from laneway.providers.http_native import NativeTransport
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import TextDelta

BODY = (Path(__file__).parents[2] / "fixtures" / "openai" / "chat_completion.json").read_bytes()
SSE = (Path(__file__).parents[2] / "fixtures" / "openai" / "stream_text.sse").read_bytes()

Answer = Callable[[bytes], list[bytes]]  # the request's head -> what to write, in pieces


def fixed(status: str, headers: list[str], body: bytes) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


class RawServer:
    """Reads each request's head and body (by content-length), then writes `answer(head)`."""

    def __init__(
        self, answer: Answer, *, close_after: bool = False, drop_second: bool = False
    ) -> None:
        self.answer = answer
        self.close_after = close_after
        self.drop_second = drop_second  # close, unanswered, a connection's second request
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                served += 1
                if self.drop_second and served == 2:
                    writer.close()
                    return
                self.requests.append(head)
                for piece in self.answer(head):
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0.005)
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def http() -> AsyncIterator[NativeTransport]:
    transport = NativeTransport()
    yield transport
    await transport.aclose()


async def serve(answer: Answer, **kwargs: bool) -> RawServer:
    server = RawServer(answer, **kwargs)
    await server.start()
    return server


async def test_content_length_body_and_request_head(http: NativeTransport) -> None:
    ok = fixed("200 OK", ["Content-Type: application/json", f"Content-Length: {len(BODY)}"], BODY)
    server = await serve(lambda head: [ok])
    try:
        response = await http.post(
            server.url + "/v1/chat/completions?x=1",
            headers={"Authorization": "Bearer k"},
            body=b"{}",
            timeout_s=5,
        )
        assert (response.status, response.body) == (200, BODY)
        assert response.headers["content-type"] == "application/json"
        head = server.requests[0]
        assert head.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
        assert f"host: 127.0.0.1:{server.url.rsplit(':', 1)[1]}".encode() in head
        assert b"content-length: 2\r\n" in head
        assert b"Authorization: Bearer k\r\n" in head
    finally:
        await server.stop()


async def test_chunked_body_split_across_writes(http: NativeTransport) -> None:
    body = chunked(BODY[:100], BODY[100:])
    answer = fixed("200 OK", ["Transfer-Encoding: chunked"], body)
    server = await serve(lambda head: [answer[:40], answer[40:90], answer[90:]])
    try:
        response = await http.post(server.url + "/", headers={}, body=b"{}", timeout_s=5)
        assert response.body == BODY
    finally:
        await server.stop()


async def test_gzip_body_is_decoded(http: NativeTransport) -> None:
    packed = gzip.compress(BODY)
    answer = fixed("200 OK", ["Content-Encoding: gzip", f"Content-Length: {len(packed)}"], packed)
    server = await serve(lambda head: [answer])
    try:
        response = await http.post(server.url + "/", headers={}, body=b"{}", timeout_s=5)
        assert response.body == BODY
    finally:
        await server.stop()


async def test_a_body_ended_by_the_connection(http: NativeTransport) -> None:
    server = await serve(
        lambda head: [fixed("200 OK", ["Connection: close"], BODY)], close_after=True
    )
    try:
        response = await http.post(server.url + "/", headers={}, body=b"{}", timeout_s=5)
        assert response.body == BODY
    finally:
        await server.stop()


async def test_keep_alive_reuses_one_connection_and_close_does_not(
    http: NativeTransport,
) -> None:
    ok = fixed("200 OK", ["Content-Length: 2"], b"{}")
    server = await serve(lambda head: [ok])
    closing = await serve(
        lambda head: [fixed("200 OK", ["Content-Length: 2", "Connection: close"], b"{}")]
    )
    try:
        for _ in range(3):
            await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
            await http.post(closing.url + "/", headers={}, body=b"", timeout_s=5)
        assert server.connections == 1
        assert closing.connections == 3
    finally:
        await server.stop()
        await closing.stop()


async def test_an_idle_connection_the_server_closed_is_replaced(http: NativeTransport) -> None:
    ok = fixed("200 OK", ["Content-Length: 2"], b"{}")
    server = await serve(lambda head: [ok])
    try:
        await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        for writer in server.writers:  # the server ends the idle keep-alive connection
            writer.close()
        await asyncio.sleep(0.05)
        response = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert response.status == 200
        assert server.connections == 2
    finally:
        await server.stop()


async def test_a_request_the_server_dropped_unanswered_on_a_reused_connection_is_resent(
    http: NativeTransport,
) -> None:
    """The race keep-alive has: the server closes an idle connection as the request goes out."""
    ok = fixed("200 OK", ["Content-Length: 2"], b"{}")
    server = await serve(lambda head: [ok], drop_second=True)
    try:
        await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        response = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert response.status == 200
        assert server.connections == 2
    finally:
        await server.stop()


async def test_a_connection_cut_mid_answer_is_a_network_error(http: NativeTransport) -> None:
    partial = fixed("200 OK", [f"Content-Length: {len(BODY)}"], BODY[:50])
    server = await serve(lambda head: [partial], close_after=True)
    try:
        with pytest.raises(TransportError) as caught:
            await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert caught.value.kind == "network"
        assert "connection reset" in str(caught.value)
    finally:
        await server.stop()


async def test_garbage_instead_of_http_is_a_clear_error(http: NativeTransport) -> None:
    server = await serve(lambda head: [b"SSH-2.0-OpenSSH_9.2\r\n\r\n"])
    try:
        with pytest.raises(TransportError, match="invalid HTTP response"):
            await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
    finally:
        await server.stop()


async def test_a_header_with_a_line_break_is_refused_before_sending(
    http: NativeTransport,
) -> None:
    server = await serve(lambda head: [])
    try:
        with pytest.raises(TransportError, match="'X-Key' contains a line break"):
            await http.post(
                server.url + "/", headers={"X-Key": "a\r\nHost: evil"}, body=b"", timeout_s=5
            )
        assert server.requests == []
    finally:
        await server.stop()


async def test_the_connection_limit_queues_callers(http: NativeTransport) -> None:
    limited = NativeTransport(limit=1)
    ok = fixed("200 OK", ["Content-Length: 2"], b"{}")
    server = await serve(lambda head: [ok])
    try:
        calls = [
            limited.post(server.url + "/", headers={}, body=b"", timeout_s=5) for _ in range(5)
        ]
        responses = await asyncio.gather(*calls)
        assert [r.status for r in responses] == [200] * 5
        assert server.connections == 1
    finally:
        await limited.aclose()
        await server.stop()


async def test_cancelled_mid_answer_the_connection_is_not_reused(http: NativeTransport) -> None:
    slow = fixed("200 OK", [f"Content-Length: {len(BODY)}"], BODY)
    server = await serve(lambda head: [slow[:30], slow[30:]])  # 5 ms apart
    try:
        call = asyncio.ensure_future(http.post(server.url + "/", headers={}, body=b"", timeout_s=5))
        await asyncio.sleep(0.002)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        response = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert response.body == BODY
        assert server.connections == 2
    finally:
        await server.stop()


async def test_a_stream_arrives_chunk_by_chunk_and_its_connection_is_reused(
    http: NativeTransport,
) -> None:
    events = [e + b"\n\n" for e in SSE.split(b"\n\n") if e.strip()]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    server = await serve(lambda h: [head, *(chunked(e)[:-5] for e in events), b"0\r\n\r\n"])
    try:
        stream = await http.open_stream(server.url + "/", headers={}, body=b"{}", timeout_s=5)
        assert stream.status == 200
        assert stream.headers["content-type"] == "text/event-stream"
        received = [chunk async for chunk in stream.iter_bytes()]
        await stream.aclose()
        assert b"".join(received) == b"".join(events)
        assert len(received) > 1  # delivered as they came, not buffered to the end
        await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert server.connections == 1
    finally:
        await server.stop()


async def test_a_stream_read_to_done_leaves_nothing_for_the_loop_to_close(
    http: NativeTransport,
) -> None:
    """The adapter stops at `data: [DONE]`, before the body's last chunk: the transport's
    chunk iterator and the SSE parsing must not be async generators left unfinished
    (the loop would close each in a task of its own). Stream: the OpenAI fixture
    (`tests/specs/openai-chat.prism.yaml`, `CreateChatCompletionStreamResponse`)."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    server = await serve(lambda h: [head, chunked(SSE)[:-5], b"0\r\n\r\n"])
    deps = AdapterDeps(transport=http, clock=FakeClock(), env={"OPENAI_API_KEY": "k"}, catalog={})
    spec = OpenAIProvider(kind="openai", base_url=server.url + "/v1")
    adapter = OpenAIAdapter("openai", spec, deps)
    try:
        with left_to_the_loop() as unclosed:
            deltas = await collect(adapter.stream(ask(), "gpt-4o-mini", timeout_s=5))
        assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello", " there"]
        assert unclosed == []
    finally:
        await server.stop()


async def test_a_stalled_stream_times_out_between_chunks(http: NativeTransport) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"data: {}\n\n")[:-5]
    server = await serve(lambda h: [head])  # then nothing more
    try:
        stream = await http.open_stream(server.url + "/", headers={}, body=b"{}", timeout_s=0.2)
        with pytest.raises(TransportError) as caught:
            _ = [chunk async for chunk in stream.iter_bytes()]
        assert caught.value.kind == "timeout"
        await stream.aclose()
    finally:
        await server.stop()


async def test_a_stream_slower_in_all_than_its_timeout_is_fine_while_each_wait_is_shorter(
    http: NativeTransport,
) -> None:
    """The timeout bounds each wait for a chunk (one lazy timer re-armed as chunks come),
    not the whole stream: 25 chunks 5 ms apart outlast a 60 ms timeout twice over."""
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [chunked(b"data: {}\n\n")[:-5] for _ in range(25)]
    server = await serve(lambda h: [head, *pieces, b"0\r\n\r\n"])
    try:
        stream = await http.open_stream(server.url + "/", headers={}, body=b"{}", timeout_s=0.06)
        received = [chunk async for chunk in stream.iter_bytes()]
        await stream.aclose()
        assert b"".join(received) == b"data: {}\n\n" * 25
    finally:
        await server.stop()


async def test_a_stream_that_stalls_after_some_chunks_times_out(http: NativeTransport) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [chunked(b"data: {}\n\n")[:-5] for _ in range(5)]
    server = await serve(lambda h: [head, *pieces])  # then nothing more
    try:
        stream = await http.open_stream(server.url + "/", headers={}, body=b"{}", timeout_s=0.1)
        received: list[bytes] = []

        async def read_all() -> None:
            async for chunk in stream.iter_bytes():  # 5 ms apart: each within 0.1 s
                received.append(chunk)

        with pytest.raises(TransportError) as caught:
            await read_all()
        assert caught.value.kind == "timeout"
        assert b"".join(received) == b"data: {}\n\n" * 5
        await stream.aclose()
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_tls_with_a_verified_certificate(authority: trustme.CA) -> None:
    """HTTPS as every hosted provider speaks it: the client checks the server's certificate."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", hello)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server_ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    good = NativeTransport(ssl_context=trusting)
    strict = NativeTransport()  # the system's CA store does not know this authority
    try:
        url = f"https://localhost:{port}/v1/chat/completions"
        response = await good.post(url, headers={}, body=b"{}", timeout_s=5)
        assert response.body == BODY
        with pytest.raises(TransportError) as caught:
            await strict.post(url, headers={}, body=b"{}", timeout_s=5)
        assert caught.value.kind == "network"
        assert "SSLCertVerificationError" in str(caught.value)
    finally:
        await good.aclose()
        await strict.aclose()
        await runner.cleanup()


async def test_a_transport_is_bound_to_its_loop(http: NativeTransport) -> None:
    await http.aclose()
    fresh = NativeTransport()

    def elsewhere() -> None:
        with pytest.raises(RuntimeError, match="one event loop"):
            asyncio.run(fresh.post("http://127.0.0.1:9/", headers={}, body=b"", timeout_s=1))

    with pytest.raises(TransportError):
        await fresh.post("http://127.0.0.1:9/", headers={}, body=b"", timeout_s=1)
    await asyncio.to_thread(elsewhere)
    await fresh.aclose()


async def test_an_interim_answer_is_skipped_for_the_final_one(http: NativeTransport) -> None:
    """RFC 9110 section 15.2: a 1xx answer (100 Continue, 103 Early Hints) precedes the
    final one on the same connection. Read as the answer, it left the final 200 on the
    connection for the next request to receive."""
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    replies = iter([b'{"n": 1}', b'{"n": 2}'])

    def answer(head: bytes) -> list[bytes]:
        body = next(replies)
        return [hints, fixed("200 OK", [f"Content-Length: {len(body)}"], body)]

    server = await serve(answer)
    try:
        first = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        second = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert (first.status, first.body) == (200, b'{"n": 1}')
        assert "link" not in first.headers
        assert (second.status, second.body) == (200, b'{"n": 2}')
    finally:
        await server.stop()


async def test_bytes_after_an_answer_end_the_connection_not_the_next_answer(
    http: NativeTransport,
) -> None:
    """A server that writes more after the first answer (here the start of a second one,
    smuggled or a bug): the connection is closed, so the next request gets its own answer
    on a new one instead of the rest of that."""
    own = iter([b'{"n": 1}', b'{"n": 2}'])

    def answer(head: bytes) -> list[bytes]:
        body = next(own)
        first = fixed("200 OK", [f"Content-Length: {len(body)}"], body)
        return [first, b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nSMUG"]

    server = await serve(answer)
    try:
        first = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        await asyncio.sleep(0.05)  # the extra bytes arrive while the connection is idle
        (pool,) = http._pools.values()
        assert (pool.idle, pool.open) == ([], set())  # closed as they came, not kept for reuse
        second = await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
        assert first.body == b'{"n": 1}'
        assert second.body == b'{"n": 2}'
        assert server.connections == 2
    finally:
        await server.stop()


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_an_answer_past_the_body_limit_is_a_clear_error_not_all_memory(
    http: NativeTransport, monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """An endless body or a gzip bomb (400 KB inflating to 400 MB took 867 MB) stops at
    the limit; here 1,000 bytes, so the test sends little."""
    monkeypatch.setattr(_http1, "MAX_BODY_BYTES", 1_000)
    raw = b"x" * 5_000
    body = gzip.compress(raw) if encoding == "gzip" else raw
    headers = [f"Content-Length: {len(body)}", f"Content-Encoding: {encoding}"]
    server = await serve(lambda head: [fixed("200 OK", headers, body)])
    try:
        with pytest.raises(TransportError, match="passed 1000 bytes"):
            await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
    finally:
        await server.stop()


async def test_an_answer_past_the_head_limit_is_a_clear_error(
    http: NativeTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40,000 repeated headers took 31 s of the loop, joined one by one."""
    monkeypatch.setattr(_http1, "MAX_HEAD_BYTES", 2_000)
    headers = ["Content-Length: 2", *(f"X-Pad: {n:06d}" for n in range(500))]
    server = await serve(lambda head: [fixed("200 OK", headers, b"{}")])
    try:
        with pytest.raises(TransportError, match="head passed 2000 bytes"):
            await http.post(server.url + "/", headers={}, body=b"", timeout_s=5)
    finally:
        await server.stop()
