"""Every transport laneway ships, against an upstream that breaks HTTP on purpose.

The hostile upstream (hostile_upstream.py) writes exact bytes, so each case is
the wire an attacker or a broken server would send, framed against RFC 9112
(HTTP/1.1 message syntax) and RFC 9110 (semantics: 1xx, 101, 3xx, CONNECT).
A case passes when the transport answers correctly or fails with a
`TransportError` of the right kind, within the call's timeout, and never hands
one request's answer to another.

The upstreams run in the test's own event loop, on virtual time
(tests/virtual_time.py): an upstream that drips or stalls waits on the same clock
as the transport's timeouts, so a timeout fires at exactly its virtual instant
and nothing waits for real.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import pytest
import trustme
from hostile_upstream import Conn, HostileUpstream, Proxy, Request, Script, answer, chunked

from laneway.clock import FakeClock
from laneway.config.schema import OpenAICompatibleProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import (
    HttpStream,
    HttpTransport,
    TransportError,
    UpstreamSettings,
    default_transport,
)
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import CompletionRequest

pytestmark = pytest.mark.virtual_time

Make = Callable[[UpstreamSettings, Mapping[str, str]], HttpTransport]

#: every transport laneway ships, by name: the suite runs once per entry
SHIPPED: dict[str, Make] = {
    "aiohttp": lambda settings, env: default_transport(settings, env=env),
}

CHAT = (Path(__file__).parents[1] / "fixtures" / "openai" / "chat_completion.json").read_bytes()


@pytest.fixture(params=sorted(SHIPPED))
def make(request: pytest.FixtureRequest) -> Make:
    made: Make = SHIPPED[request.param]
    return made


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[..., HostileUpstream]]:
    started: list[HostileUpstream] = []

    def start(script: Script, tls: ssl.SSLContext | None = None) -> HostileUpstream:
        upstream = HostileUpstream(script, tls=tls)
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        await upstream.close()


@pytest.fixture
async def http(make: Make) -> AsyncIterator[HttpTransport]:
    transport = make(UpstreamSettings(), {})
    yield transport
    await transport.aclose()


async def serve(upstreams: Callable[..., HostileUpstream], script: Script) -> HostileUpstream:
    return await upstreams(script).start()


def by_path(**scripts: bytes) -> Script:
    """Answers `/name` with the bytes given for `name`."""

    async def script(request: Request, conn: Conn) -> None:
        await conn.send(scripts[request.target.strip("/").split("?")[0]])

    return script


async def post(http: HttpTransport, url: str, timeout_s: float = 2.0) -> bytes:
    response = await http.post(
        url, headers={"x-api-key": "sk-secret"}, body=b"{}", timeout_s=timeout_s
    )
    assert response.status == 200
    return response.body


async def drain(stream: HttpStream, into: list[bytes]) -> None:
    async for chunk in stream.iter_bytes():
        into.append(chunk)


# -- connection reuse ----------------------------------------------------------------


async def test_a_connection_is_reused_after_a_clean_end(http: HttpTransport, upstreams) -> None:
    up = await serve(upstreams, by_path(a=answer("200 OK", b"one"), b=answer("200 OK", b"two")))
    assert await post(http, f"{up.url}/a") == b"one"
    assert await post(http, f"{up.url}/b") == b"two"
    assert len(up.connections) == 1


async def test_desync_the_head_of_a_second_answer_is_never_the_next_answer(
    http: HttpTransport, upstreams
) -> None:
    """A full answer and the head of another in one write: the connection is closed."""
    injected = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"
    up = await serve(
        upstreams,
        by_path(a=answer("200 OK", b"first") + injected, b=answer("200 OK", b"mine")),
    )
    assert await post(http, f"{up.url}/a") == b"first"
    assert await post(http, f"{up.url}/b") == b"mine"
    assert len(up.connections) == 2


async def test_desync_a_whole_second_answer_in_the_same_write_is_dropped(
    http: HttpTransport, upstreams
) -> None:
    up = await serve(
        upstreams,
        by_path(
            a=answer("200 OK", b"first") + answer("200 OK", b"injected"),
            b=answer("200 OK", b"mine"),
        ),
    )
    assert await post(http, f"{up.url}/a") == b"first"
    assert await post(http, f"{up.url}/b") == b"mine"


@pytest.mark.parametrize(
    "late",
    [
        answer("200 OK", b"late and evil"),
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nlate",
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n",
        b"HTTP/1.1 200 OK\r\nX-Evil: ",
    ],
    ids=["whole-answer", "head-and-part-of-body", "part-of-head", "open-header-line"],
)
async def test_late_bytes_on_an_idle_connection_are_never_the_next_answer(
    http: HttpTransport, upstreams, late: bytes
) -> None:
    """Bytes nobody asked for, sent to a pooled connection, never shape the next answer.

    A late message under way closes the connection; a fragment of a head is
    dropped when the next request starts a fresh parse.
    """
    idle, sent = asyncio.Event(), asyncio.Event()

    async def script(request: Request, conn: Conn) -> None:
        if request.target == "/a":
            await conn.send(answer("200 OK", b"first"))
            await idle.wait()
            await conn.send(late)
            sent.set()
        else:
            await conn.send(answer("429 Too Many Requests", b"mine"))

    up = await serve(upstreams, script)
    assert await post(http, f"{up.url}/a") == b"first"
    idle.set()
    await sent.wait()
    # a virtual second: the loop polls its sockets before its clock moves, so the late
    # bytes have reached the idle pooled connection
    await asyncio.sleep(1)
    second = await http.post(f"{up.url}/b", headers={}, body=b"{}", timeout_s=2)
    assert (second.status, second.body, second.headers.get("x-evil")) == (429, b"mine", None)
    if late.endswith(b"late") or late.endswith(b"evil"):  # a message was under way: closed
        assert [r.connection for r in up.requests] == [1, 2]


# -- framing ---------------------------------------------------------------------------


async def test_content_length_with_transfer_encoding_is_refused(
    http: HttpTransport, upstreams
) -> None:
    """RFC 9112 §6.3: both at once may be smuggling; the answer is refused, not guessed."""
    smuggled = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(b"hello")
    )
    up = await serve(upstreams, by_path(a=smuggled, b=answer("200 OK", b"mine")))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a")
    assert caught.value.kind == "invalid"
    assert await post(http, f"{up.url}/b") == b"mine"
    assert len(up.connections) == 2


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n"],
    ids=["size-not-hex", "no-crlf-after-data", "negative-size"],
)
async def test_bad_chunk_framing_is_an_error_and_the_connection_is_dropped(
    http: HttpTransport, upstreams, body: bytes
) -> None:
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    up = await serve(upstreams, by_path(a=bad, b=answer("200 OK", b"mine")))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a")
    assert caught.value.kind in ("invalid", "network")
    assert await post(http, f"{up.url}/b") == b"mine"
    assert len(up.connections) == 2


async def test_interim_answers_are_skipped_for_the_final_one(
    http: HttpTransport, upstreams
) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    up = await serve(upstreams, by_path(a=interim + answer("200 OK", b"final")))
    assert await post(http, f"{up.url}/a") == b"final"


async def test_switching_protocols_is_an_error_not_an_answer(
    http: HttpTransport, upstreams
) -> None:
    switch = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    up = await serve(upstreams, by_path(a=switch, b=answer("200 OK", b"mine")))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a")
    assert caught.value.kind == "invalid"
    assert "switched protocols (101" in str(caught.value)
    assert await post(http, f"{up.url}/b") == b"mine"


async def test_switching_protocols_reaches_the_engine_as_a_provider_error(
    make: Make, upstreams
) -> None:
    """An adapter turns it into invalid_response, so fallback and the degraded reply run."""
    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    up = await serve(upstreams, by_path(**{"v1/chat/completions": switch}))
    transport = make(UpstreamSettings(), {})
    spec = OpenAICompatibleProvider(kind="openai_compatible", base_url=f"{up.url}/v1")
    adapter = OpenAIAdapter("vllm", spec, AdapterDeps(transport=transport, clock=FakeClock()))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(CompletionRequest.from_prompt("hi"), "m", timeout_s=2)
        assert caught.value.code is ErrorCode.INVALID_RESPONSE
    finally:
        await transport.aclose()


# -- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    ["301 Moved Permanently", "302 Found", "307 Temporary Redirect", "308 Permanent Redirect"],
)
async def test_a_redirect_is_never_followed_and_names_its_target(
    http: HttpTransport, upstreams, status: str
) -> None:
    elsewhere = await serve(upstreams, by_path(**{"v2/chat/completions": answer("200 OK", b"x")}))
    moved = answer(status, b"", f"Location: {elsewhere.url}/v2/chat/completions?token=abc")
    up = await serve(upstreams, by_path(**{"v1/chat/completions": moved}))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/v1/chat/completions")
    message = str(caught.value)
    assert caught.value.kind == "redirect"
    assert f"redirected ({status.split()[0]}) to {elsewhere.url}/v2/chat/completions" in message
    assert "token=abc" not in message
    assert elsewhere.requests == []  # the key never went there


async def test_a_redirect_reaches_the_engine_as_a_configuration_error(
    make: Make, upstreams
) -> None:
    moved = answer(
        "301 Moved Permanently", b"", "Location: https://api.example.test/v2/chat/completions"
    )
    up = await serve(upstreams, by_path(**{"v1/chat/completions": moved}))
    transport = make(UpstreamSettings(), {})
    spec = OpenAICompatibleProvider(kind="openai_compatible", base_url=f"{up.url}/v1")
    adapter = OpenAIAdapter("vllm", spec, AdapterDeps(transport=transport, clock=FakeClock()))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(CompletionRequest.from_prompt("hi"), "m", timeout_s=2)
        assert caught.value.code is ErrorCode.NOT_CONFIGURED
        assert "set providers.vllm.base_url to https://api.example.test/v2" in str(caught.value)
        assert [r.method for r in up.requests] == ["POST"]
    finally:
        await transport.aclose()


# -- bounds ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """256 MiB of zeros in about 250 KiB of gzip: past the 64 MiB body bound."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    return b"".join(packer.compress(block) for _ in range(256)) + packer.flush()


async def test_a_gzip_bomb_stops_at_the_body_bound(
    http: HttpTransport, upstreams, gzip_bomb: bytes
) -> None:
    bomb = answer("200 OK", gzip_bomb, "Content-Encoding: gzip")
    up = await serve(upstreams, by_path(a=bomb))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a", timeout_s=10)
    assert caught.value.kind == "invalid"
    assert "passed 67108864 bytes" in str(caught.value)


async def test_a_small_gzip_body_is_decoded(http: HttpTransport, upstreams) -> None:
    up = await serve(
        upstreams, by_path(a=answer("200 OK", gzip.compress(CHAT), "Content-Encoding: gzip"))
    )
    assert await post(http, f"{up.url}/a") == CHAT


async def test_many_tiny_headers_are_refused_fast(http: HttpTransport, upstreams) -> None:
    """200,000 headers under 1 MiB: refused at the count bound, not joined for seconds."""
    many = b"HTTP/1.1 200 OK\r\n" + b"a:1\r\n" * 200_000 + b"Content-Length: 0\r\n\r\n"
    up = await serve(upstreams, by_path(a=many))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a", timeout_s=2)
    assert caught.value.kind == "invalid"


async def test_a_huge_head_is_refused(http: HttpTransport, upstreams) -> None:
    huge = (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2 * 1024 * 1024) + b"\r\nContent-Length: 0\r\n\r\n"
    )
    up = await serve(upstreams, by_path(a=huge))
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a", timeout_s=2)
    assert caught.value.kind == "invalid"


async def test_a_drip_fed_answer_times_out_at_the_call_timeout(
    http: HttpTransport, upstreams
) -> None:
    """A byte every half second never trips a read timeout: only a bound on the whole
    call ends it (without one, the 100 bytes take 50 s, then the read stalls)."""

    async def drip(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            await conn.send(b"a")
            await asyncio.sleep(0.5)

    up = await serve(upstreams, drip)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a", timeout_s=2)
    assert caught.value.kind == "timeout"
    assert loop.time() - started == pytest.approx(2)


# -- ends --------------------------------------------------------------------------------


async def test_a_close_mid_body_is_a_network_error(http: HttpTransport, upstreams) -> None:
    async def cut(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        conn.close()

    up = await serve(upstreams, cut)
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a")
    assert caught.value.kind == "network"


async def test_a_close_mid_stream_is_a_network_error(http: HttpTransport, upstreams) -> None:
    async def cut(request: Request, conn: Conn) -> None:
        await conn.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\ndata: {}\n\n\r\n" % 10
        )
        conn.close()

    up = await serve(upstreams, cut)
    stream = await http.open_stream(f"{up.url}/a", headers={}, body=b"{}", timeout_s=2)
    chunks: list[bytes] = []
    try:
        with pytest.raises(TransportError) as caught:
            await drain(stream, chunks)
        assert caught.value.kind == "network"
        assert b"".join(chunks) == b"data: {}\n\n"
    finally:
        await stream.aclose()


async def test_a_stalled_stream_times_out_between_chunks(http: HttpTransport, upstreams) -> None:
    stall = asyncio.Event()

    async def stalls(request: Request, conn: Conn) -> None:
        await conn.send(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x\r\ndata: 1\n\n\r\n" % 9
        )
        await stall.wait()

    up = await serve(upstreams, stalls)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stream = await http.open_stream(f"{up.url}/a", headers={}, body=b"{}", timeout_s=2)
    chunks: list[bytes] = []
    try:
        with pytest.raises(TransportError) as caught:
            async with asyncio.timeout(60):  # a stream with no read timeout would hang here
                await drain(stream, chunks)
        assert caught.value.kind == "timeout"
        assert chunks == [b"data: 1\n\n"]
        assert loop.time() - started == pytest.approx(2)  # the read after the first chunk
    finally:
        stall.set()
        await stream.aclose()


async def test_an_http_1_0_answer_ended_by_close_is_read_whole(
    http: HttpTransport, upstreams
) -> None:
    async def legacy(request: Request, conn: Conn) -> None:
        await conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + CHAT)
        conn.close()

    up = await serve(upstreams, legacy)
    assert await post(http, f"{up.url}/a") == CHAT
    assert await post(http, f"{up.url}/b") == CHAT
    assert len(up.connections) == 2


async def test_the_user_agent_names_laneway(http: HttpTransport, upstreams) -> None:
    up = await serve(upstreams, by_path(a=answer("200 OK", b"ok")))
    await post(http, f"{up.url}/a")
    assert up.requests[0].headers["user-agent"].startswith("laneway/")


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def server_tls(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


def pem(authority: trustme.CA, tmp_path: Path, name: str = "ca.pem") -> str:
    path = tmp_path / name
    authority.cert_pem.write_to_path(str(path))
    return str(path)


async def test_tls_with_an_untrusted_ca_is_refused_naming_the_certificate(
    http: HttpTransport, upstreams, authority: trustme.CA
) -> None:
    up = await upstreams(by_path(a=answer("200 OK", b"ok")), tls=server_tls(authority)).start()
    with pytest.raises(TransportError) as caught:
        await post(http, f"{up.url}/a")
    assert caught.value.kind == "tls"
    assert "certificate signed by an unknown authority: set tls.ca_file" in str(caught.value)
    assert up.requests == []


async def test_tls_with_ca_file_is_trusted_besides_the_system_store(
    make: Make, upstreams, authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ca_file adds to the system store: a server signed by the "system" CA still works."""
    system_ca = trustme.CA()
    monkeypatch.setenv("SSL_CERT_FILE", pem(system_ca, tmp_path, "system.pem"))  # OpenSSL's store
    ours = await upstreams(by_path(a=answer("200 OK", b"ours")), tls=server_tls(authority)).start()
    public = await upstreams(
        by_path(a=answer("200 OK", b"public")), tls=server_tls(system_ca)
    ).start()
    transport = make(UpstreamSettings(ca_file=pem(authority, tmp_path)), {})
    try:
        assert await post(transport, f"{ours.url}/a") == b"ours"
        assert await post(transport, f"{public.url}/a") == b"public"
    finally:
        await transport.aclose()


# -- proxies ---------------------------------------------------------------------------------


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    started = await Proxy().start()
    yield started
    await started.close()


async def test_https_goes_through_a_connect_proxy_from_the_environment(
    make: Make, upstreams, proxy: Proxy, authority: trustme.CA, tmp_path: Path
) -> None:
    up = await upstreams(
        by_path(a=answer("200 OK", b"tunnelled")), tls=server_tls(authority)
    ).start()
    transport = make(UpstreamSettings(ca_file=pem(authority, tmp_path)), {"HTTPS_PROXY": proxy.url})
    try:
        assert await post(transport, f"{up.url}/a") == b"tunnelled"
    finally:
        await transport.aclose()
    assert proxy.log == [f"CONNECT {up.url.removeprefix('https://')}"]


async def test_http_goes_through_a_forward_proxy_set_in_config(
    make: Make, upstreams, proxy: Proxy
) -> None:
    up = await serve(upstreams, by_path(a=answer("200 OK", b"forwarded")))
    transport = make(UpstreamSettings(proxy=proxy.url, proxy_is_own=True), {})
    try:
        assert await post(transport, f"{up.url}/a") == b"forwarded"
    finally:
        await transport.aclose()
    assert proxy.log == [f"POST {up.url}/a"]
    assert up.requests[0].headers["x-api-key"] == "sk-secret"


async def test_no_proxy_sends_a_host_direct(make: Make, upstreams, proxy: Proxy) -> None:
    up = await serve(upstreams, by_path(a=answer("200 OK", b"direct")))
    env = {"HTTP_PROXY": proxy.url, "NO_PROXY": "localhost,127.0.0.1"}
    transport = make(UpstreamSettings(), env)
    try:
        assert await post(transport, f"{up.url}/a") == b"direct"
    finally:
        await transport.aclose()
    assert proxy.log == []


async def test_a_proxy_that_refuses_connect_says_so(
    make: Make, upstreams, authority: trustme.CA
) -> None:
    refusing = await Proxy(refuse=True).start()
    up = await upstreams(by_path(a=answer("200 OK", b"x")), tls=server_tls(authority)).start()
    transport = make(UpstreamSettings(proxy=refusing.url, proxy_is_own=True), {})
    try:
        with pytest.raises(TransportError) as caught:
            await post(transport, f"{up.url}/a")
        assert caught.value.kind == "proxy"
        assert "refused CONNECT" in str(caught.value)
        assert refusing.log == [f"CONNECT {up.url.removeprefix('https://')}"]
    finally:
        await transport.aclose()
        await refusing.close()


async def test_switching_protocols_lets_the_lane_fall_back_and_degrade(
    make: Make, upstreams
) -> None:
    """Through the engine: the next model answers; with none left, the degraded reply."""
    from laneway import Gateway, TaskContext

    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
    up = await serve(upstreams, by_path(**{"v1/chat/completions": switch}))
    config = {
        "providers": {
            "vllm": {"kind": "openai_compatible", "base_url": f"{up.url}/v1"},
            "local": {"kind": "local"},
        },
        "lanes": {
            "backed": {"primary": "vllm/m", "fallback": ["local/echo"]},
            "alone": {"primary": "vllm/m", "degraded": {"message": "try later"}},
        },
        "audit": {"enabled": False},
    }
    transport = make(UpstreamSettings(), {})
    gateway = Gateway.from_config(config, env={}, transport=transport)
    try:
        request = CompletionRequest.from_prompt("hi")
        backed = await gateway.run(request, TaskContext(lane="backed"))
        assert backed.ok
        assert backed.trace[0] == "vllm/m:invalid_response"
        alone = await gateway.run(request, TaskContext(lane="alone"))
        assert (alone.status, alone.content, alone.code) == (
            "degraded",
            "try later",
            "invalid_response",
        )
    finally:
        await gateway.aclose()


async def test_tls_with_a_certificate_for_another_host_says_so(
    make: Make, upstreams, authority: trustme.CA, tmp_path: Path
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("api.example.test").configure_cert(context)
    up = await upstreams(by_path(a=answer("200 OK", b"x")), tls=context).start()
    transport = make(UpstreamSettings(ca_file=pem(authority, tmp_path)), {})
    try:
        with pytest.raises(TransportError) as caught:
            await post(transport, f"{up.url}/a")
        assert caught.value.kind == "tls"
        assert "the certificate is for another host name: check base_url" in str(caught.value)
    finally:
        await transport.aclose()


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_a_proxys_credentials_come_from_its_url_and_are_never_shown(
    make: Make, upstreams, authority: trustme.CA, tmp_path: Path, scheme: str
) -> None:
    """`user:password@` in the proxy URL is sent as Basic Proxy-Authorization."""
    guarded = await Proxy(credentials="Basic dXNlcjpodW50ZXIy").start()  # user:hunter2
    tls = server_tls(authority) if scheme == "https" else None
    up = await upstreams(by_path(a=answer("200 OK", b"through")), tls=tls).start()
    authed = guarded.url.replace("http://", "http://user:hunter2@")
    good = make(
        UpstreamSettings(proxy=authed, proxy_is_own=True, ca_file=pem(authority, tmp_path)), {}
    )
    bad = make(
        UpstreamSettings(proxy=guarded.url, proxy_is_own=True, ca_file=pem(authority, tmp_path)), {}
    )
    try:
        assert await post(good, f"{up.url}/a") == b"through"
        with pytest.raises(TransportError) as caught:
            await post(bad, f"{up.url}/a")
        assert caught.value.kind == "proxy"
        assert "needs credentials (407)" in str(caught.value)
        assert "hunter2" not in str(caught.value)
        assert len(guarded.log) == 2
    finally:
        await good.aclose()
        await bad.aclose()
        await guarded.close()
