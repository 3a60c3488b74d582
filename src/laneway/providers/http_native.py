"""laneway's own HTTP/1.1 client: asyncio protocols and httptools' parser, nothing more.

Why not a client library: forwarding one `chat.completion` to a local upstream
at 32 concurrent calls cost 143 µs of CPU per call through aiohttp's client and
81 µs through pyreqwest (its own thread's hand-offs included), against 53 µs
here, and 210 / 155 / 61 µs one call at a time (`bench/bench_transport.py`,
docs/performance.md): on a gateway pinned to one core that difference was the
largest single share of the server's CPU. The parsing (status line, headers,
content-length and chunked bodies) is httptools, the parser uvicorn uses; this
module only keeps connections and hands bytes over.

What a provider API needs and no more: HTTP/1.1 over TCP or TLS (the system's
CA store), a keep-alive pool per origin with a connection limit, gzip/deflate
response bodies, a bound on each whole call (and, for streams, on the time to
headers and each gap between chunks), and a retry on a fresh connection when a
reused one turns out to have been closed by the server before it answered a
byte. Not: proxies, redirects, HTTP/2, cookies.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools

from laneway.providers.http import HttpResponse, TransportError, _host, _network_message

_MAX_TARGETS = 1024  # parsed URLs kept: adapters call a few fixed URLs each


class _Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    request_target: bytes  # path and query
    host_header: bytes
    label: str  # scheme://host[:port] for error messages


def _parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"not an http(s) URL: {_host(url)}", kind="network")
    host = parts.hostname
    default = 443 if scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError as exc:
        raise TransportError(f"bad port in {_host(url)}", kind="network") from exc
    literal = f"[{host}]" if ":" in host else host
    authority = literal if port == default else f"{literal}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(
        (scheme, host, port),
        path.encode("ascii", "strict"),
        authority.encode("idna" if not host.isascii() else "ascii"),
        f"{scheme}://{authority}",
    )


class _Exchange:
    """One request's response as it arrives: head, body chunks, end, or failure."""

    __slots__ = (
        "_inflate",
        "chunks",
        "done",
        "error",
        "finished",
        "head",
        "headers",
        "keep_alive",
        "received",
        "status",
        "streaming",
        "waiter",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, *, streaming: bool) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: deque[bytes] = deque()
        self.finished = False
        self.error: BaseException | None = None
        self.received = False  # any byte of the response yet
        self.streaming = streaming
        self.head: asyncio.Future[None] | None = loop.create_future() if streaming else None
        self.done: asyncio.Future[None] | None = None if streaming else loop.create_future()
        self.waiter: asyncio.Future[None] | None = None  # a stream reader waiting for a chunk
        self.keep_alive = False
        self._inflate: zlib._Decompress | None = None

    def on_headers(self, status: int, keep_alive: bool) -> None:
        self.status = status
        self.keep_alive = keep_alive
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(47 if "gzip" in encoding else zlib.MAX_WBITS)
        elif encoding not in ("identity", ""):
            self.fail(ValueError(f"unsupported content-encoding {encoding!r}"))
            return
        if self.head is not None and not self.head.done():
            self.head.set_result(None)

    def on_body(self, data: bytes) -> None:
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error as exc:
                self.fail(exc)
                return
        self.chunks.append(data)
        self._wake()

    def on_end(self) -> None:
        if self._inflate is not None:
            tail = self._inflate.flush()
            if tail:
                self.chunks.append(tail)
        self.finished = True
        if self.done is not None and not self.done.done():
            self.done.set_result(None)
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self.finished or self.error is not None:
            return
        self.error = error
        for future in (self.head, self.done, self.waiter):
            if future is not None and not future.done():
                future.set_exception(error)
                future.exception()  # retrieved: nobody may be waiting on it any more

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; httptools calls the `on_*` methods as bytes arrive."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        exchange.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None and not exchange.finished:
            if exc is None and exchange.status and _ends_with_connection(exchange.headers):
                exchange.on_end()  # a body without length or chunks ends with the connection
            else:
                exchange.fail(exc or ConnectionResetError("the server closed the connection"))
        self.pool.forget(self)

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.exchange is not None
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self.exchange.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        assert self.exchange is not None
        self.exchange.on_headers(self.parser.get_status_code(), self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        assert self.exchange is not None
        self.exchange.on_body(body)

    def on_message_complete(self) -> None:
        assert self.exchange is not None
        self.exchange.on_end()

    # -- use -------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes | None, *, streaming: bool) -> _Exchange:
        assert self.transport is not None
        exchange = self.exchange = _Exchange(self.pool.loop, streaming=streaming)
        self.transport.write(head + body if body else head)
        return exchange

    def reusable(self) -> bool:
        exchange = self.exchange
        return (
            not self.closed
            and exchange is not None
            and exchange.finished
            and exchange.keep_alive
            and exchange.error is None
        )

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool.forget(self)


class _Pool:
    """Idle connections to one origin, newest first, and the connection limit."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int], *, limit: int
    ) -> None:
        self.loop = loop
        self.origin = origin
        self.limit = limit
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()
        self.waiters: deque[asyncio.Future[None]] = deque()

    def forget(self, conn: _Connection) -> None:
        if conn in self.open:
            self.open.discard(conn)
            if conn in self.idle:
                self.idle.remove(conn)
            self._wake_one()

    def release(self, conn: _Connection) -> None:
        if conn.reusable():
            conn.exchange = None
            conn.idle_since = self.loop.time()
            self.idle.append(conn)
            self._wake_one()
        else:
            conn.close()

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class NativeTransport:
    """The default `HttpTransport` (see the module docstring for what it does and why).

    A transport belongs to the event loop that first used it, like aiohttp's
    sessions. `post` and `get` bound the whole call by `timeout_s`;
    `open_stream` bounds the time to headers and then each gap between chunks.
    """

    def __init__(
        self,
        *,
        limit: int = 256,
        keepalive_timeout_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._limit = limit
        self._keepalive_s = keepalive_timeout_s
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, _Target] = {}
        self._heads: dict[tuple[object, ...], bytes] = {}
        self._closed = False

    # -- HttpTransport -----------------------------------------------------------------

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpResponse:
        return await self._request(b"POST", url, headers, body, timeout_s)

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpResponse:
        return await self._request(b"GET", url, headers, None, timeout_s)

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> NativeStream:
        target, conn, exchange = await self._send(b"POST", url, headers, body, timeout_s, True)
        return NativeStream(self._pools[target.origin], conn, exchange, target, timeout_s)

    async def aclose(self) -> None:
        self._closed = True
        for pool in self._pools.values():
            for conn in list(pool.open):
                conn.close()
        self._pools.clear()

    # -- the call --------------------------------------------------------------------

    async def _request(
        self,
        method: bytes,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        target, conn, exchange = await self._send(method, url, headers, body, timeout_s, False)
        chunks = exchange.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._pools[target.origin].release(conn)
        return HttpResponse(exchange.status, exchange.headers, data)

    async def _send(
        self,
        method: bytes,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
        streaming: bool,
    ) -> tuple[_Target, _Connection, _Exchange]:
        """Send the request; return once the whole answer (or, streaming, its head) is in."""
        target = self._target(url)
        loop = self._bind()
        deadline = loop.time() + timeout_s
        head = _head(self._heads, method, target, headers, body)
        for fresh in (False, True):
            conn, reused = await self._acquire(target, deadline, timeout_s, fresh=fresh)
            exchange = conn.send(head, body, streaming=streaming)
            arrived = exchange.head if streaming else exchange.done
            assert arrived is not None
            try:
                await _wait(arrived, deadline - loop.time(), target, timeout_s)
            except TransportError:
                conn.close()
                if reused and not fresh and _closed_unanswered(exchange):
                    continue  # the server had closed this idle connection: once more, anew
                raise
            except BaseException:  # cancelled mid-answer: the connection cannot be reused
                conn.close()
                raise
            return target, conn, exchange
        raise AssertionError("unreachable")  # pragma: no cover

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("a NativeTransport is bound to one event loop; make one per loop")
        if self._closed:
            raise RuntimeError("this NativeTransport is closed")
        return loop

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _acquire(
        self, target: _Target, deadline: float, timeout_s: float, *, fresh: bool
    ) -> tuple[_Connection, bool]:
        """An idle connection (reused=True) or a new one, within the call's deadline."""
        loop = self._loop
        assert loop is not None
        pool = self._pools.get(target.origin)
        if pool is None:
            pool = self._pools[target.origin] = _Pool(loop, target.origin, limit=self._limit)
        while True:
            if not fresh:
                stale_before = loop.time() - self._keepalive_s
                while pool.idle:
                    conn = pool.idle.pop()
                    if not conn.closed and conn.idle_since > stale_before:
                        return conn, True
                    conn.close()
            if len(pool.open) < pool.limit:
                return await self._connect(pool, target, deadline, timeout_s), False
            waiter = loop.create_future()
            pool.waiters.append(waiter)
            try:
                await _wait(waiter, deadline - loop.time(), target, timeout_s)
            finally:
                if not waiter.done():
                    waiter.cancel()

    async def _connect(
        self, pool: _Pool, target: _Target, deadline: float, timeout_s: float
    ) -> _Connection:
        loop = pool.loop
        scheme, host, port = target.origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self._ssl = self._ssl or ssl.create_default_context()
        conn = _Connection(pool)
        pool.open.add(conn)
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                transport, _ = await loop.create_connection(
                    lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError as exc:
            conn.close()
            raise TransportError(
                f"no answer from {target.label} within {timeout_s:g} s", kind="timeout"
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise TransportError(_network_message(target.label, exc), kind="network") from exc
        except BaseException:
            conn.close()
            raise
        conn.transport = transport  # uvloop may call connection_made only later
        return conn


class NativeStream:
    """An open streaming response (`HttpStream`): status and headers, then body chunks."""

    def __init__(
        self,
        pool: _Pool,
        conn: _Connection,
        exchange: _Exchange,
        target: _Target,
        timeout_s: float,
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._exchange = exchange
        self._target = target
        self._timeout_s = timeout_s
        self._released = False
        self.status = exchange.status
        self.headers: Mapping[str, str] = exchange.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        exchange = self._exchange
        loop = self._pool.loop
        while True:
            if exchange.chunks:
                yield exchange.chunks.popleft()
                continue
            if exchange.finished:
                return
            if exchange.error is not None:
                raise _failure(exchange.error, self._target, self._timeout_s)
            waiter = exchange.waiter = loop.create_future()
            try:
                await _wait(waiter, self._timeout_s, self._target, self._timeout_s)
            finally:
                exchange.waiter = None

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        """Back to the pool when fully read; a half-read connection is closed, not reused."""
        if not self._released:
            self._released = True
            self._pool.release(self._conn)


async def _wait(
    future: asyncio.Future[None], within_s: float, target: _Target, timeout_s: float
) -> None:
    """Await `future` for at most `within_s`; failures as `TransportError`.

    A bare `call_later` bounds the wait (cheaper than `asyncio.timeout` on the
    hot path); on expiry it fails the future rather than cancelling the task.
    """
    if not future.done():
        if within_s <= 0:
            raise TransportError(
                f"no answer from {target.label} within {timeout_s:g} s", kind="timeout"
            )
        loop = future.get_loop()
        timer = loop.call_later(within_s, _expire, future)
        try:
            await future
        except _Expired:
            raise TransportError(
                f"no answer from {target.label} within {timeout_s:g} s", kind="timeout"
            ) from None
        except (OSError, ValueError, zlib.error, httptools.HttpParserError) as exc:
            raise _failure(exc, target, timeout_s) from exc
        finally:
            timer.cancel()
    elif future.exception() is not None:
        raise _failure(future.exception(), target, timeout_s)  # type: ignore[arg-type]


class _Expired(Exception):
    """The future's time ran out (internal: becomes a timeout `TransportError`)."""


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(_Expired())


def _failure(error: BaseException, target: _Target, timeout_s: float) -> TransportError:
    if isinstance(error, TransportError):
        return error
    if isinstance(error, _Expired):
        return TransportError(
            f"no answer from {target.label} within {timeout_s:g} s", kind="timeout"
        )
    if isinstance(error, httptools.HttpParserError | ValueError | zlib.error):
        return TransportError(
            f"invalid HTTP response ({error}): {target.label}; check base_url points at the API",
            kind="network",
        )
    return TransportError(_network_message(target.label, error), kind="network")


def _closed_unanswered(exchange: _Exchange) -> bool:
    """The connection ended before a byte of the answer: the request was not processed."""
    return not exchange.received and isinstance(exchange.error, OSError)


def _ends_with_connection(headers: Mapping[str, str]) -> bool:
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")


_MAX_HEADS = 256  # request heads kept: one per (method, URL, header set) in use


def _head(
    cache: dict[tuple[object, ...], bytes],
    method: bytes,
    target: _Target,
    headers: Mapping[str, str],
    body: bytes | None,
) -> bytes:
    """The request line and headers; a line break in a header would split the request.

    Everything but the length repeats from call to call (the same URL, key and
    headers), so it is built once per distinct set and kept in `cache`.
    """
    key = (method, target.request_target, target.host_header, *headers.items())
    fixed = cache.get(key)
    if fixed is None:
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
            bad = next(n for n, v in headers.items() if "\r" in n + v or "\n" in n + v)
            raise TransportError(f"header {bad!r} contains a line break", kind="network")
        fixed = b"%s %s HTTP/1.1\r\nhost: %s\r\n%s" % (
            method,
            target.request_target,
            target.host_header,
            lines.encode("latin-1", "replace"),
        )
        if len(cache) >= _MAX_HEADS:
            cache.clear()
        cache[key] = fixed
    if body is None:
        return fixed + b"\r\n"
    return b"%scontent-length: %d\r\n\r\n" % (fixed, len(body))
