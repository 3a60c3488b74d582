"""The default upstream client: aiohttp, configured for calls that carry API keys.

What it is set up to refuse or bound (docs/providers.md, "The HTTP client"):

- no redirects: a 3xx is a `TransportError(kind="redirect")` naming the target;
- at most `MAX_HEADERS` header lines of at most `MAX_FIELD_BYTES` each, so a head
  is bounded in count and size, and the parser stops at the first line too many;
- at most `max_body_bytes` of body after decompression (a gzip bomb stops there;
  aiohttp decompresses a chunk at a time, bounded by its read buffer);
- a connection goes back to the pool only after a clean message end, and one
  that received anything while idle is closed, not reused (`_CleanConnector`);
- connect and read timeouts apart: `connect_timeout_s` for the TCP and TLS
  connect, the call's `timeout_s` for the whole call and each read;
- no cookies: one session serves every tenant, so a `Set-Cookie` in one answer
  is dropped, never sent with another caller's request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping
from types import TracebackType

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from laneway.http._base import StreamBase, TransportBase
from laneway.http.settings import UpstreamSettings, proxy_for, shown_proxy, tls_context
from laneway.http.transport import (
    HttpResponse,
    HttpStream,
    TransportError,
    host_of,
    refused_status,
)

#: the most header lines one answer may have (providers send about 30)
MAX_HEADERS = 128
#: the most one header line (and the status line) may hold
MAX_FIELD_BYTES = 8190
#: the most a whole answer's body may hold, after decompression
MAX_BODY_BYTES = 64 * 1024 * 1024
#: how often to replace a pooled connection found dirty before taking a new one as is
_MAX_DIRTY = 8


class _CleanConnector(aiohttp.TCPConnector):
    """A pool that never hands out a connection that received bytes while idle.

    aiohttp reads an idle keep-alive connection and queues a whole answer that
    arrives on it; the next request on that connection would get that answer.
    The pool is checked when a connection is taken (`should_close` is true for a
    queued answer, a half-read body or a failed parse) and such a one is closed.
    """

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        for _ in range(_MAX_DIRTY):
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            if protocol is None or not protocol.should_close:
                return connection
            connection.close()
        return await super().connect(req, traces, timeout)


class AiohttpTransport(TransportBase):
    """One pooled `aiohttp.ClientSession`, made on first use in the loop.

    A transport belongs to the event loop that first used it (aiohttp sessions
    cannot move between loops). `post` and `get` bound the whole call by
    `timeout_s`; `open_stream` bounds the time to headers and then each gap
    between chunks, so a stalled stream ends in a timeout rather than a hang.
    """

    def __init__(
        self,
        settings: UpstreamSettings | None = None,
        *,
        env: Mapping[str, str] | None = None,
        user_agent: str = "laneway",
        limit: int = 256,
        keepalive_timeout_s: float = 30.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._settings = settings or UpstreamSettings()
        self._env: Mapping[str, str] = env or {}
        self._user_agent = user_agent
        self._limit = limit
        self._keepalive_timeout_s = keepalive_timeout_s
        self._max_body_bytes = max_body_bytes
        self._tls: ssl.SSLContext = tls_context(self._settings.ca_file)  # a bad file: now
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}  # few distinct values
        self._stream_timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, str | None] = {}  # URL -> proxy: adapters call few URLs

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None:  # `aclose` forgets the session it closes
            connector = _CleanConnector(
                limit=self._limit,
                keepalive_timeout=self._keepalive_timeout_s,
                ttl_dns_cache=300,
                ssl=self._tls,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),  # one session, many tenants: no cookies
                trust_env=False,  # proxies come from `proxy_for`, over the injected env
                headers={"User-Agent": self._user_agent},
                max_line_size=MAX_FIELD_BYTES,
                max_field_size=MAX_FIELD_BYTES,
                max_headers=MAX_HEADERS,
            )
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an AiohttpTransport is bound to one event loop; make one per loop")
        return self._session

    def _timeout(self, timeout_s: float) -> aiohttp.ClientTimeout:
        """One `ClientTimeout` per distinct value: lanes repeat theirs on every call.

        No `sock_read`: a read deadline of `timeout_s` restarts with every chunk,
        so `total` (started earlier) always ends the call first, and aiohttp would
        cancel and re-arm a timer for each chunk received.
        """
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            connect_s = min(self._settings.connect_timeout_s, timeout_s)
            timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_s)
            self._timeouts[timeout_s] = timeout
        return timeout

    def _stream_timeout(self, timeout_s: float) -> aiohttp.ClientTimeout:
        """A stream's: no total, `timeout_s` for each read; one per distinct value, too."""
        timeout = self._stream_timeouts.get(timeout_s)
        if timeout is None:
            if len(self._stream_timeouts) > 64:
                self._stream_timeouts.clear()
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=min(self._settings.connect_timeout_s, timeout_s),
                sock_read=timeout_s,
            )
            self._stream_timeouts[timeout_s] = timeout
        return timeout

    def _proxy(self, url: str) -> str | None:
        try:
            return self._proxies[url]
        except KeyError:
            if len(self._proxies) > 256:
                self._proxies.clear()
            proxy = self._proxies[url] = proxy_for(url, self._settings, self._env)
            return proxy

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        session = self._client()
        proxy = self._proxy(url)
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout(timeout_s),
                allow_redirects=False,
                proxy=proxy,
            ) as response:
                status = response.status
                if not 200 <= status < 300:
                    _check(url, response, proxy)
                data = await _read_bounded(response, url, self._max_body_bytes)
                return HttpResponse(status, response.headers, data)
        except (aiohttp.ClientError, OSError) as exc:  # OSError: timeouts, TLS, sockets
            raise self._translate(exc, url, timeout_s, proxy) from exc

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        session = self._client()
        proxy = self._proxy(url)
        errors = self._errors(url, timeout_s, proxy)
        with errors:
            async with asyncio.timeout(timeout_s):
                response = await session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=self._stream_timeout(timeout_s),
                    allow_redirects=False,
                    proxy=proxy,
                )
            try:
                _check(url, response, proxy)
            except TransportError:
                response.close()
                raise
        return _AiohttpStream(
            response,
            status=response.status,
            url=url,
            max_body_bytes=self._max_body_bytes,
            errors=errors,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _errors(self, url: str, timeout_s: float, proxy: str | None) -> _Translated:
        return _Translated(url, timeout_s, self._settings.connect_timeout_s, proxy)

    def _translate(
        self, exc: BaseException, url: str, timeout_s: float, proxy: str | None
    ) -> TransportError:
        return _transport_error(exc, url, timeout_s, self._settings.connect_timeout_s, proxy)


class _Translated:
    """A `with` block whose aiohttp, socket and TLS failures leave it as `TransportError`.

    A stream enters one twice (opening, reading); a whole call (`_request`) needs
    no object for it, and catches the same failures with `try`. A class rather
    than a `@contextmanager` generator, which costs several Python calls on the
    way in and out.
    """

    __slots__ = ("_connect_timeout_s", "_proxy", "_timeout_s", "_url")

    def __init__(
        self, url: str, timeout_s: float, connect_timeout_s: float, proxy: str | None
    ) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._proxy = proxy

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, aiohttp.ClientError | OSError):  # OSError: timeouts, TLS, sockets
            raise _transport_error(
                exc, self._url, self._timeout_s, self._connect_timeout_s, self._proxy
            ) from exc


class _AiohttpStream(StreamBase):
    def __init__(
        self,
        response: aiohttp.ClientResponse,
        *,
        status: int,
        url: str,
        max_body_bytes: int,
        errors: _Translated,
    ) -> None:
        super().__init__(response.headers, status=status)
        self._response = response
        self._url = url
        self._max_body_bytes = max_body_bytes
        self._translated = errors

    def _errors(self) -> _Translated:
        return self._translated

    def _chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    def _next_chunk(self) -> Awaitable[bytes]:
        return self._response.content.readany()

    async def _read_all(self) -> bytes:
        return await _read_bounded(self._response, self._url, self._max_body_bytes)

    async def aclose(self) -> None:
        """Back to the pool when fully read; a half-read connection is closed, not reused."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _transport_error(
    exc: BaseException, url: str, timeout_s: float, connect_timeout_s: float, proxy: str | None
) -> TransportError:
    """An aiohttp, socket or TLS failure as the `TransportError` that names it."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return _timed_out(url, timeout_s, connect_timeout_s, exc)
    return translate(url, exc, proxy)


def _check(url: str, response: aiohttp.ClientResponse, proxy: str | None) -> None:
    """Refuse what no adapter may see as an answer: 1xx, 101, 3xx, a proxy's 407."""
    if proxy is not None and response.status == 407:
        response.close()
        raise _proxy_needs_credentials(proxy)
    refused = refused_status(url, response.status, response.headers)
    if refused is not None:
        response.close()
        raise refused


async def _read_bounded(response: aiohttp.ClientResponse, url: str, limit: int) -> bytes:
    """The whole body, decompressed, or an error as soon as it passes `limit` bytes."""
    length = response.content_length
    if length is not None and length <= limit and "Content-Encoding" not in response.headers:
        return await response.read()  # the length is the bound: one read, no list
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        size += len(chunk)
        if size > limit:
            response.close()
            raise TransportError(
                f"the answer from {host_of(url)} passed {limit} bytes (decompressed); "
                "laneway stops reading there",
                kind="invalid",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _proxy_needs_credentials(proxy: str) -> TransportError:
    return TransportError(
        f"proxy {shown_proxy(proxy)} needs credentials (407): put user:password@ in "
        "the proxy URL (proxy: or HTTPS_PROXY), or check the ones there",
        kind="proxy",
    )


def _timed_out(
    url: str, timeout_s: float, connect_timeout_s: float, exc: BaseException
) -> TransportError:
    host = host_of(url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        limit = min(connect_timeout_s, timeout_s)
        return TransportError(f"could not connect to {host} within {limit:g} s", kind="timeout")
    return TransportError(f"no answer from {host} within {timeout_s:g} s", kind="timeout")


#: OpenSSL verify codes that mean "signed by a CA this machine does not trust"
_UNKNOWN_AUTHORITY = frozenset({2, 18, 19, 20, 21})
#: host name, e-mail and IP address mismatches
_NAME_MISMATCH = frozenset({62, 63, 64})
_EXPIRED = 10


def translate(url: str, exc: BaseException, proxy: str | None) -> TransportError:
    """One aiohttp (or socket) failure as a `TransportError` whose words name the fix."""
    host = host_of(url)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _certificate_error(host, exc.certificate_error)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_error(host, exc)
    if isinstance(exc, aiohttp.ClientHttpProxyError) and proxy is not None and exc.status == 407:
        return _proxy_needs_credentials(proxy)
    if isinstance(exc, aiohttp.ClientHttpProxyError) and proxy is not None:
        return TransportError(
            f"proxy {shown_proxy(proxy)} refused CONNECT to {host} ({exc.status} "
            f"{exc.message}); check proxy: / HTTPS_PROXY and the proxy's rules",
            kind="proxy",
        )
    if isinstance(exc, aiohttp.ClientProxyConnectionError) and proxy is not None:
        return TransportError(
            f"proxy {shown_proxy(proxy)} cannot be reached ({_cause(exc)}) on the way to "
            f"{host}; check proxy: / HTTPS_PROXY, or NO_PROXY for hosts that go direct",
            kind="proxy",
        )
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)):
        return TransportError(
            f"TLS with {host} failed ({_cause(exc)}); check that base_url's scheme and "
            "port speak TLS",
            kind="tls",
        )
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser refused the answer
        return TransportError(
            f"invalid HTTP answer from {host}: {str(exc.message)[:160]}", kind="invalid"
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return TransportError(
            f"the answer from {host} broke off or was badly framed ({_cause(exc)})",
            kind="network",
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return TransportError(
            f"{host} closed the connection before its answer ended", kind="network"
        )
    return TransportError(
        f"{_connect_failure(exc)}: {host}; check base_url and that the server is reachable",
        kind="network",
    )


def _certificate_error(host: str, exc: BaseException) -> TransportError:
    code = getattr(exc, "verify_code", None)
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or "refused"
    if code in _UNKNOWN_AUTHORITY:
        fix = (
            "certificate signed by an unknown authority: set tls.ca_file to the PEM file "
            "of the CA that signed it"
        )
    elif code in _NAME_MISMATCH:
        fix = "the certificate is for another host name: check base_url's host"
    elif code == _EXPIRED:
        fix = "the server's certificate has expired: its operator must renew it"
    else:
        fix = "check the server's certificate, or set tls.ca_file to its CA"
    return TransportError(f"TLS certificate of {host} refused ({reason}); {fix}", kind="tls")


def _cause(exc: BaseException) -> str:
    """The innermost cause's class and words: what went wrong, without our URL twice."""
    inner: BaseException = exc
    for _ in range(6):
        nxt = inner.__cause__ or getattr(inner, "os_error", None)
        if not isinstance(nxt, BaseException):
            break
        inner = nxt
    text = str(inner).strip()
    return f"{type(inner).__name__}: {text[:160]}" if text else type(inner).__name__


def _connect_failure(exc: BaseException) -> str:
    """Which kind of connection failure, by exception type along the chain, not by text."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not found (DNS)"
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "host name not found (DNS)"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
    return f"connection failed ({type(exc).__name__})"
