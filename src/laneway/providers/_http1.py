"""HTTP/1.1 on one connection, for the native client: request heads, the response
as httptools parses it, and the keep-alive pool of an origin.

`http_native.py` builds the transport (`NativeTransport`) on these pieces; this
module holds what happens on and between connections.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import httptools

from laneway.providers.http import TransportError, _host


class Target(NamedTuple):
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    request_target: bytes  # path and query
    host_header: bytes
    label: str  # scheme://host[:port] for error messages


def parse_target(url: str) -> Target:
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
    return Target(
        (scheme, host, port),
        path.encode("ascii", "strict"),
        authority.encode("idna" if not host.isascii() else "ascii"),
        f"{scheme}://{authority}",
    )


#: the most an answer may bring: its body (decompressed), and the bytes that arrive
#: before its head ends. An upstream's endless body, gzip bomb or 40,000 repeated
#: headers must not take the process's memory (or its loop, joining the headers).
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_HEAD_BYTES = 1024 * 1024


class Exchange:
    """One request's response as it arrives: head, body chunks, end, or failure."""

    __slots__ = (
        "_inflate",
        "body_size",
        "chunks",
        "done",
        "error",
        "finished",
        "head",
        "head_size",
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
        self.body_size = 0
        self.head_size = 0

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
        room = MAX_BODY_BYTES - self.body_size
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data, room + 1)  # a bomb stops at the limit
            except zlib.error as exc:
                self.fail(exc)
                return
        self.body_size += len(data)
        if self.body_size > MAX_BODY_BYTES:
            self.fail(ValueError(f"the answer's body passed {MAX_BODY_BYTES} bytes"))
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


class Connection(asyncio.Protocol):
    """One keep-alive connection; httptools calls the `on_*` methods as bytes arrive."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.closed = False
        self.idle_since = 0.0
        self.interim = False  # parsing a 1xx answer (100 Continue, 103 Early Hints)

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.finished:  # bytes nobody asked for: the connection
            self.close()  # cannot be trusted (they would be read as the next request's answer)
            return
        exchange.received = True
        if not exchange.status:  # the head is still arriving (counted per read, not per line)
            exchange.head_size += len(data)
            if exchange.head_size > MAX_HEAD_BYTES:
                exchange.fail(ValueError(f"the answer's head passed {MAX_HEAD_BYTES} bytes"))
                self.close()
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            exchange.fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        exchange = self.exchange
        if exchange is not None and not exchange.finished:
            if exc is None and exchange.status and ends_with_connection(exchange.headers):
                exchange.on_end()  # a body without length or chunks ends with the connection
            else:
                exchange.fail(exc or ConnectionResetError("the server closed the connection"))
        self.pool.forget(self)

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        if exchange.finished:
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = exchange.headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        if exchange.finished:
            return
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer: the final one follows on the same connection
            self.interim = True
            exchange.headers.clear()
            return
        exchange.on_headers(status, self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        assert exchange is not None
        if not exchange.finished:
            exchange.on_body(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        if self.interim:
            self.interim = False
        elif exchange.finished:  # a second answer in the same bytes as the first
            self.close()
        else:
            exchange.on_end()

    # -- use -------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes | None, *, streaming: bool) -> Exchange:
        assert self.transport is not None
        exchange = self.exchange = Exchange(self.pool.loop, streaming=streaming)
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


class Pool:
    """Idle connections to one origin, newest first, and the connection limit."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int], *, limit: int
    ) -> None:
        self.loop = loop
        self.origin = origin
        self.limit = limit
        self.idle: list[Connection] = []
        self.open: set[Connection] = set()
        self.waiters: deque[asyncio.Future[None]] = deque()

    def forget(self, conn: Connection) -> None:
        if conn in self.open:
            self.open.discard(conn)
            if conn in self.idle:
                self.idle.remove(conn)
            self._wake_one()

    def release(self, conn: Connection) -> None:
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


def closed_unanswered(exchange: Exchange) -> bool:
    """The connection ended before a byte of the answer: the request was not processed."""
    return not exchange.received and isinstance(exchange.error, OSError)


def ends_with_connection(headers: Mapping[str, str]) -> bool:
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "")


_MAX_HEADS = 256  # request heads kept: one per (method, URL, header set) in use


def request_head(
    cache: dict[tuple[object, ...], bytes],
    method: bytes,
    target: Target,
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
