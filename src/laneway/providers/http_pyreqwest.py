"""An optional Rust-backed HTTP client (`pyreqwest`, the `fast-http` extra).

Chosen with `LANEWAY_HTTP_CLIENT=pyreqwest`. It uses less of the loop's CPU
than aiohttp's client, but its own thread's hand-offs cost the
loop more than laneway's native client does (docs/performance.md), and it is
pre-1.0, so it stays an option.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from laneway.providers.http import (
    ErrorScope,
    HttpResponse,
    HttpStream,
    _StreamBase,
    _translated,
    _TransportBase,
)


class PyreqwestTransport(_TransportBase):
    """A pyreqwest client (Rust reqwest/hyper on its own tokio thread), from `laneway[fast-http]`.

    Measured on a forwarded `chat.completion` (docs/performance.md, "The HTTP
    client"): less CPU per request than aiohttp's client. Timeouts
    match `AiohttpTransport`: `timeout_s` bounds each whole call, and for streams
    the time to headers and each gap between chunks. pyreqwest is pre-1.0, so this
    stays an option behind `HttpTransport`.
    """

    def __init__(self, *, limit: int = 256, keepalive_timeout_s: float = 30.0) -> None:
        try:
            from pyreqwest.client import ClientBuilder
        except ImportError as exc:
            raise RuntimeError(
                "the pyreqwest transport needs pyreqwest: pip install 'laneway[fast-http]'"
            ) from exc
        self._client: Any = (
            ClientBuilder()
            .max_connections(limit)
            .pool_idle_timeout(timedelta(seconds=keepalive_timeout_s))
            .error_for_status(False)
            .follow_redirects(False)
            .build()
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
        builder = self._client.request(method, url).headers(headers)
        if body is not None:
            builder = builder.body_bytes(body)
        request = builder.timeout(timedelta(seconds=timeout_s)).build()
        with _pyreqwest_errors(url, timeout_s):
            response = await request.send()
            data = await response.bytes()
        return HttpResponse(response.status, dict(response.headers.items()), bytes(data))

    async def open_stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> HttpStream:
        # No read-ahead: by default pyreqwest buffers up to 64 KiB of the body before
        # it returns the response, which would hold back the first tokens.
        builder = self._client.post(url).headers(headers).body_bytes(body)
        request = builder.streamed_read_buffer_limit(0).build_streamed()
        with _pyreqwest_errors(url, timeout_s):
            async with asyncio.timeout(timeout_s):
                response = await request.__aenter__()
        return _PyreqwestStream(request, response, url=url, timeout_s=timeout_s)

    async def aclose(self) -> None:
        await self._client.close()


class _PyreqwestStream(_StreamBase):
    def __init__(self, request: Any, response: Any, *, url: str, timeout_s: float) -> None:
        super().__init__(response, status=response.status, url=url, timeout_s=timeout_s)
        self._request = request
        self._reader = response.body_reader
        self._closed = False

    @property
    def _errors(self) -> ErrorScope:
        return _pyreqwest_errors

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            async with asyncio.timeout(self._timeout_s):
                chunk = await self._reader.read_chunk()
            if chunk is None:
                return
            yield bytes(chunk)

    async def _read_all(self) -> bytes:
        async with asyncio.timeout(self._timeout_s):
            return bytes(await self._reader.bytes())

    async def aclose(self) -> None:
        """Ends the request; a connection whose body was not fully read is not reused."""
        if not self._closed:
            self._closed = True
            await self._request.__aexit__(None, None, None)


def _pyreqwest_errors(url: str, timeout_s: float) -> AbstractContextManager[None]:
    from pyreqwest.exceptions import RequestError

    return _translated(
        url,
        timeout_s,
        timeouts=(TimeoutError,),  # pyreqwest's timeouts are TimeoutError subclasses too
        failures=(RequestError, OSError),
        describe=_pyreqwest_failure,
    )


#: what pyreqwest's error causes say (it reports Rust errors as text only), and our words
_PYREQWEST_CAUSES = (
    ("os error 111", "connection refused"),
    ("dns error", "host name not found (DNS)"),
    ("os error 104", "connection reset"),
)


def _pyreqwest_failure(exc: BaseException) -> str | None:
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    text = " ".join(str(c.get("message", "")) for c in causes or () if isinstance(c, dict))
    for needle, what in _PYREQWEST_CAUSES:
        if needle in text:
            return what
    return None


# -- shared ------------------------------------------------------------------
