"""The HTTP edge: one pooled client shared by every adapter, behind a small protocol.

Adapters speak `HttpTransport` only, so tests can hand them an
`httpx.MockTransport` while production uses the faster client (see
docs/performance.md for the measurement that chose it).
"""

from __future__ import annotations

import asyncio
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from laneway.errors import ConfigError


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


class HttpStream(Protocol):
    """An open streaming response: status and headers first, then the body in chunks."""

    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> AsyncIterator[bytes]: ...
    async def read(self) -> bytes: ...
    async def aclose(self) -> None: ...


class HttpTransport(Protocol):
    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpResponse:
        """POST and read the whole body. Raises `TransportError` on connection failures."""
        ...

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        """POST and return once headers arrive; the caller must `aclose` the stream."""
        ...

    async def get(
        self, url: str, *, headers: Mapping[str, str], timeout_s: float
    ) -> HttpResponse: ...

    async def aclose(self) -> None: ...


class TransportError(Exception):
    """A connection-level failure, already classified; adapters turn it into ProviderError."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout" | "network"


# -- what both clients share ------------------------------------------------------


def timed_out(host: str, timeout_s: float) -> TransportError:
    """The one timeout error every client raises: which server, which limit."""
    return TransportError(f"no answer from {host} within {timeout_s:g} s", kind="timeout")


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class _TransportBase(ABC):
    """`post` and `get` as one `_request`, which each client library implements."""

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpResponse:
        return await self._request("POST", url, headers=headers, body=body, timeout_s=timeout_s)

    async def get(self, url: str, *, headers: Mapping[str, str], timeout_s: float) -> HttpResponse:
        return await self._request("GET", url, headers=headers, body=None, timeout_s=timeout_s)

    @abstractmethod
    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        """One whole call within `timeout_s`; raises `TransportError`."""


ErrorScope = Callable[[str, float], AbstractContextManager[None]]
"""`(url, timeout_s)` -> a context that turns one library's exceptions into `TransportError`."""


class _StreamBase(ABC):
    """An open response whose reads raise `TransportError`, never the library's exceptions."""

    def __init__(self, response: Any, *, status: int, url: str, timeout_s: float) -> None:
        self._response = response
        self._url = url
        self._timeout_s = timeout_s
        self.status = status
        self.headers: Mapping[str, str] = _lower(response.headers)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        with self._errors(self._url, self._timeout_s):
            async for chunk in self._chunks():
                yield chunk

    async def read(self) -> bytes:
        with self._errors(self._url, self._timeout_s):
            return await self._read_all()

    @property
    @abstractmethod
    def _errors(self) -> ErrorScope: ...

    @abstractmethod
    def _chunks(self) -> AsyncIterator[bytes]: ...

    @abstractmethod
    async def _read_all(self) -> bytes: ...


@contextmanager
def _translated(
    url: str,
    timeout_s: float,
    *,
    timeouts: tuple[type[BaseException], ...],
    failures: tuple[type[BaseException], ...],
    describe: Callable[[BaseException], str | None] | None = None,
) -> Iterator[None]:
    """A library's exceptions as `TransportError` (timeouts first: some are both)."""
    host = _host(url)
    try:
        yield
    except timeouts as exc:
        raise timed_out(host, timeout_s) from exc
    except failures as exc:
        what = describe(exc) if describe is not None else None
        raise TransportError(_network_message(host, exc, what), kind="network") from exc


# -- aiohttp -----------------------------------------------------------------


class AiohttpTransport(_TransportBase):
    """One pooled `aiohttp.ClientSession` with keep-alive, made on first use in the loop.

    A transport belongs to the event loop that first used it (aiohttp sessions
    cannot move between loops). `post` and `get` bound the whole call by
    `timeout_s`; `open_stream` bounds the time to headers and then each gap
    between chunks, so a stalled stream ends in a timeout rather than a hang.
    """

    def __init__(self, *, limit: int = 256, keepalive_timeout_s: float = 30.0) -> None:
        self._limit = limit
        self._keepalive_timeout_s = keepalive_timeout_s
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, Any] = {}  # timeout_s -> aiohttp.ClientTimeout (few values)

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed:
            import aiohttp

            connector = aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=self._keepalive_timeout_s, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an AiohttpTransport is bound to one event loop; make one per loop")
        return self._session

    def _total_timeout(self, timeout_s: float) -> Any:
        """One `ClientTimeout` per distinct value: lanes repeat theirs on every call."""
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            import aiohttp

            if len(self._timeouts) > 64:
                self._timeouts.clear()
            timeout = self._timeouts[timeout_s] = aiohttp.ClientTimeout(total=timeout_s)
        return timeout

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
        timeout = self._total_timeout(timeout_s)
        with _aiohttp_errors(url, timeout_s):
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                data = await response.read()
                return HttpResponse(response.status, _lower(response.headers), data)

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        import aiohttp

        session = self._client()
        timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s)
        with _aiohttp_errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await session.post(url, data=body, headers=headers, timeout=timeout)
        return _AiohttpStream(response, status=response.status, url=url, timeout_s=timeout_s)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class _AiohttpStream(_StreamBase):
    @property
    def _errors(self) -> ErrorScope:
        return _aiohttp_errors

    def _chunks(self) -> AsyncIterator[bytes]:
        chunks: AsyncIterator[bytes] = self._response.content.iter_any()
        return chunks

    async def _read_all(self) -> bytes:
        data: bytes = await self._response.read()
        return data

    async def aclose(self) -> None:
        """Back to the pool when fully read; a half-read connection is closed, not reused."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _aiohttp_errors(url: str, timeout_s: float) -> AbstractContextManager[None]:
    import aiohttp

    return _translated(
        url, timeout_s, timeouts=(TimeoutError,), failures=(aiohttp.ClientError, OSError)
    )


# -- httpx -------------------------------------------------------------------


class HttpxTransport(_TransportBase):
    """An `httpx.AsyncClient`; pass `transport=httpx.MockTransport(handler)` in tests.

    Timeouts match `AiohttpTransport`: `timeout_s` bounds each whole call (by
    cancellation), and for streams the time to headers and each read.
    """

    def __init__(self, *, transport: Any = None, limit: int = 256) -> None:
        import httpx

        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        self._client = httpx.AsyncClient(transport=transport, limits=limits, timeout=None)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        with _httpx_errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await self._client.request(
                    method, url, headers=dict(headers), content=body, timeout=timeout_s
                )
        return HttpResponse(response.status_code, _lower(response.headers), response.content)

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        request = self._client.build_request(
            "POST", url, headers=dict(headers), content=body, timeout=timeout_s
        )
        with _httpx_errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await self._client.send(request, stream=True)
        return _HttpxStream(response, status=response.status_code, url=url, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream(_StreamBase):
    @property
    def _errors(self) -> ErrorScope:
        return _httpx_errors

    def _chunks(self) -> AsyncIterator[bytes]:
        chunks: AsyncIterator[bytes] = self._response.aiter_bytes()
        return chunks

    async def _read_all(self) -> bytes:
        data: bytes = await self._response.aread()
        return data

    async def aclose(self) -> None:
        await self._response.aclose()


def _httpx_errors(url: str, timeout_s: float) -> AbstractContextManager[None]:
    import httpx

    return _translated(
        url,
        timeout_s,
        timeouts=(TimeoutError, httpx.TimeoutException),
        failures=(httpx.TransportError, httpx.StreamError, OSError),
    )


# -- pyreqwest (optional) ----------------------------------------------------


def _host(url: str) -> str:
    """Scheme and host of a URL: error messages name the server, never a query string."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"


def _network_message(host: str, exc: BaseException, what: str | None = None) -> str:
    """Which kind of connection failure, by exception type along the chain, not by text."""
    if what is not None:
        return f"{what}: {host}; check base_url and that the server is reachable"
    what = f"connection failed ({type(exc).__name__})"
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            what = "connection refused"
            break
        if isinstance(seen, socket.gaierror):
            what = "host name not found (DNS)"
            break
        if isinstance(seen, ConnectionResetError):
            what = "connection reset"
            break
        seen = seen.__cause__ or seen.__context__
    return f"{what}: {host}; check base_url and that the server is reachable"


HTTP_CLIENT_ENV = "LANEWAY_HTTP_CLIENT"


def default_transport(env: Mapping[str, str] | None = None) -> HttpTransport:
    """laneway's own client (`native`), or `aiohttp` / `pyreqwest` by `LANEWAY_HTTP_CLIENT`.

    `native` (providers/http_native.py) is the default by measurement: a third
    to a quarter of aiohttp's CPU per forwarded call (docs/performance.md,
    `## The HTTP client`). aiohttp stays as a fallback should the native client
    meet a server it cannot talk to; pyreqwest is the optional `fast-http` extra.
    """
    choice = (os.environ if env is None else env).get(HTTP_CLIENT_ENV, "native").strip().lower()
    if choice in ("", "native"):
        from laneway.providers.http_native import NativeTransport

        return NativeTransport()
    if choice == "aiohttp":
        return AiohttpTransport()
    if choice == "pyreqwest":
        from laneway.providers.http_pyreqwest import PyreqwestTransport

        return PyreqwestTransport()
    raise ConfigError(
        f"{HTTP_CLIENT_ENV}={choice!r} is not an HTTP client laneway knows",
        hint=f"set {HTTP_CLIENT_ENV} to native (the default), aiohttp or pyreqwest",
    )
