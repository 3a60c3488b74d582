"""laneway's own HTTP/1.1 client: asyncio protocols and httptools' parser, nothing more.

Why not a client library: forwarding a `chat.completion` through aiohttp's
client or pyreqwest (its own thread's hand-offs included) cost several times
the CPU per call of this one (`bench/bench_transport.py`; docs/performance.md,
"The HTTP client"): on a gateway pinned to one core that difference was the
largest single share of the server's CPU. The parsing (status line, headers,
content-length and chunked bodies) is httptools, the parser uvicorn uses;
`_http1.py` holds the connections and their pool, this module the transport
built on them.

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
from collections.abc import AsyncIterator, Mapping

import httptools

from laneway.providers._http1 import (
    Connection,
    Exchange,
    Pool,
    Target,
    closed_unanswered,
    parse_target,
    request_head,
)
from laneway.providers.http import (
    HttpResponse,
    TransportError,
    _network_message,
    _TransportBase,
    timed_out,
)

_MAX_TARGETS = 1024  # parsed URLs kept: adapters call a few fixed URLs each


class NativeTransport(_TransportBase):
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
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._targets: dict[str, Target] = {}
        self._heads: dict[tuple[object, ...], bytes] = {}
        self._closed = False

    # -- HttpTransport (post and get come from _TransportBase) --------------------------

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
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        verb = method.encode("ascii")
        target, conn, exchange = await self._send(verb, url, headers, body, timeout_s, False)
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
    ) -> tuple[Target, Connection, Exchange]:
        """Send the request; return once the whole answer (or, streaming, its head) is in."""
        target = self._target(url)
        loop = self._bind()
        deadline = loop.time() + timeout_s
        head = request_head(self._heads, method, target, headers, body)
        for fresh in (False, True):
            conn, reused = await self._acquire(target, deadline, timeout_s, fresh=fresh)
            exchange = conn.send(head, body, streaming=streaming)
            arrived = exchange.head if streaming else exchange.done
            assert arrived is not None
            try:
                await _wait(arrived, deadline - loop.time(), target, timeout_s)
            except TransportError:
                conn.close()
                if reused and not fresh and closed_unanswered(exchange):
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

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = parse_target(url)
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            self._targets[url] = target
        return target

    async def _acquire(
        self, target: Target, deadline: float, timeout_s: float, *, fresh: bool
    ) -> tuple[Connection, bool]:
        """An idle connection (reused=True) or a new one, within the call's deadline."""
        loop = self._loop
        assert loop is not None
        pool = self._pools.get(target.origin)
        if pool is None:
            pool = self._pools[target.origin] = Pool(loop, target.origin, limit=self._limit)
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
        self, pool: Pool, target: Target, deadline: float, timeout_s: float
    ) -> Connection:
        loop = pool.loop
        scheme, host, port = target.origin
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self._ssl = self._ssl or ssl.create_default_context()
        conn = Connection(pool)
        pool.open.add(conn)
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.0)):
                transport, _ = await loop.create_connection(
                    lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError as exc:
            conn.close()
            raise timed_out(target.label, timeout_s) from exc
        except OSError as exc:  # ssl.SSLError included
            conn.close()
            raise TransportError(_network_message(target.label, exc), kind="network") from exc
        except BaseException:
            conn.close()
            raise
        conn.transport = transport  # uvloop may call connection_made only later
        return conn


class NativeStream:
    """An open streaming response (`HttpStream`): status and headers, then body chunks.

    Each wait for a chunk may last `timeout_s`. A model's stream waits once per
    token or two, so the bound is one lazy timer, not a timer per wait: it is
    armed for the first wait's end and, when it fires, fails the wait then in
    progress if that one is due, else re-arms for that wait's end.
    """

    __slots__ = (
        "_conn",
        "_exchange",
        "_pool",
        "_released",
        "_target",
        "_timeout_s",
        "_timer",
        "_wait_started",
        "headers",
        "status",
    )

    def __init__(
        self,
        pool: Pool,
        conn: Connection,
        exchange: Exchange,
        target: Target,
        timeout_s: float,
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._exchange = exchange
        self._target = target
        self._timeout_s = timeout_s
        self._released = False
        self._timer: asyncio.TimerHandle | None = None
        self._wait_started = 0.0
        self.status = exchange.status
        self.headers: Mapping[str, str] = exchange.headers

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive: the stream itself, not an async generator.

        An async generator left unfinished (a reader that stops at `[DONE]`) is
        closed by the event loop in a task of its own; a plain iterator costs nothing.
        """
        return self

    def __aiter__(self) -> NativeStream:
        return self

    async def __anext__(self) -> bytes:
        exchange = self._exchange
        while True:
            if exchange.chunks:
                return exchange.chunks.popleft()
            if exchange.finished:
                raise StopAsyncIteration
            if exchange.error is not None:
                raise _failure(exchange.error, self._target, self._timeout_s)
            loop = self._pool.loop
            waiter = exchange.waiter = loop.create_future()
            self._wait_started = loop.time()
            if self._timer is None:
                self._timer = loop.call_at(self._wait_started + self._timeout_s, self._check)
            try:
                await waiter
            except _WAIT_ERRORS as exc:
                cause = None if isinstance(exc, _Expired) else exc
                raise _failure(exc, self._target, self._timeout_s) from cause
            finally:
                exchange.waiter = None

    def _check(self) -> None:
        """The lazy timer fired: fail the wait in progress if it is due, else re-arm."""
        self._timer = None
        waiter = self._exchange.waiter
        if waiter is None or waiter.done():
            return  # no wait now: the next one arms the timer again
        loop = self._pool.loop
        due = self._wait_started + self._timeout_s
        if loop.time() >= due:
            waiter.set_exception(_Expired())
        else:
            self._timer = loop.call_at(due, self._check)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        """Back to the pool when fully read; a half-read connection is closed, not reused."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._released:
            self._released = True
            self._pool.release(self._conn)


async def _wait(
    future: asyncio.Future[None], within_s: float, target: Target, timeout_s: float
) -> None:
    """Await `future` for at most `within_s`; failures as `TransportError`.

    A bare `call_later` bounds the wait (cheaper than `asyncio.timeout` on the
    hot path); on expiry it fails the future rather than cancelling the task.
    """
    timer = None
    if not future.done():
        if within_s <= 0:
            raise timed_out(target.label, timeout_s)
        timer = future.get_loop().call_later(within_s, _expire, future)
    try:
        await future
    except _WAIT_ERRORS as exc:
        raise _failure(exc, target, timeout_s) from (None if isinstance(exc, _Expired) else exc)
    finally:
        if timer is not None:
            timer.cancel()


class _Expired(Exception):
    """The future's time ran out (internal: becomes a timeout `TransportError`)."""


#: what a wait for the answer may end in, each turned into a `TransportError`
_WAIT_ERRORS = (_Expired, OSError, ValueError, zlib.error, httptools.HttpParserError)


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(_Expired())


def _failure(error: BaseException, target: Target, timeout_s: float) -> TransportError:
    if isinstance(error, TransportError):
        return error
    if isinstance(error, _Expired):
        return timed_out(target.label, timeout_s)
    if isinstance(error, httptools.HttpParserError | ValueError | zlib.error):
        return TransportError(
            f"invalid HTTP response ({error}): {target.label}; check base_url points at the API",
            kind="network",
        )
    return TransportError(_network_message(target.label, error), kind="network")
