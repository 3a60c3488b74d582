"""The test double: `HttpTransport` over an `httpx.MockTransport` (or any httpx transport).

Tests hand adapters `HttpxTransport(transport=httpx.MockTransport(handler))` and
answer in the provider's wire format. It applies the same rules as the
production client to what comes back (a 3xx, 1xx or 101 is a `TransportError`),
so an adapter behaves the same under test as in production. It is not a network
client: the conformance suite covers only the transports laneway ships for that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx

from laneway.http._base import StreamBase, TransportBase, lower
from laneway.http.transport import (
    HttpResponse,
    HttpStream,
    TransportError,
    host_of,
    refused_status,
)


class HttpxTransport(TransportBase):
    """An `httpx.AsyncClient` over `transport`; `timeout_s` bounds each call by cancellation.

    Without a `transport` every call fails as a connection error: for tests whose
    adapters never reach HTTP (local, fake), nothing can leave the machine.
    """

    def __init__(
        self, *, transport: httpx.AsyncBaseTransport | None = None, limit: int = 256
    ) -> None:
        transport = transport or httpx.MockTransport(_no_upstream)
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        self._client = httpx.AsyncClient(
            transport=transport, limits=limits, timeout=None, follow_redirects=False
        )

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout_s: float,
    ) -> HttpResponse:
        with _errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await self._client.request(
                    method, url, headers=dict(headers), content=body, timeout=timeout_s
                )
        refused = refused_status(url, response.status_code, response.headers)
        if refused is not None:
            raise refused
        return HttpResponse(response.status_code, lower(response.headers), response.content)

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        request = self._client.build_request(
            "POST", url, headers=dict(headers), content=body, timeout=timeout_s
        )
        with _errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await self._client.send(request, stream=True)
        refused = refused_status(url, response.status_code, response.headers)
        if refused is not None:
            await response.aclose()
            raise refused
        return _HttpxStream(response, url=url, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()


class _HttpxStream(StreamBase):
    def __init__(self, response: httpx.Response, *, url: str, timeout_s: float) -> None:
        super().__init__(lower(response.headers), status=response.status_code)
        self._response = response
        self._url = url
        self._timeout_s = timeout_s
        self._pieces: AsyncIterator[bytes] | None = None

    def _errors(self) -> AbstractContextManager[None]:
        return _errors(self._url, self._timeout_s)

    def _chunks(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes()

    def _next_chunk(self) -> Awaitable[bytes]:
        if self._pieces is None:
            self._pieces = self._response.aiter_bytes()
        return anext(self._pieces, b"")

    async def _read_all(self) -> bytes:
        return await self._response.aread()

    async def aclose(self) -> None:
        closer = getattr(self._pieces, "aclose", None)  # httpx's generator: close it now
        if closer is not None:
            await closer()
        await self._response.aclose()


@contextmanager
def _errors(url: str, timeout_s: float) -> Iterator[Any]:
    try:
        yield
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise TransportError(
            f"no answer from {host_of(url)} within {timeout_s:g} s", kind="timeout"
        ) from exc
    except (httpx.TransportError, httpx.StreamError, OSError) as exc:
        what = "connection refused" if isinstance(exc, httpx.ConnectError) else "connection failed"
        raise TransportError(
            f"{what} ({type(exc).__name__}): {host_of(url)}; check base_url and that the "
            "server is reachable",
            kind="network",
        ) from exc


def _no_upstream(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("this test double has no upstream", request=request)
