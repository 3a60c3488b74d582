"""What every transport shares: `post`/`get` as one `_request`, and a stream whose
reads raise `TransportError`, never the client library's exceptions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Coroutine, Mapping
from contextlib import AbstractContextManager
from typing import Any

from laneway.http.transport import HttpResponse


def lower(headers: Mapping[str, str]) -> dict[str, str]:
    """A client library's headers by lower-case name (one that is not case-insensitive)."""
    return {name.lower(): value for name, value in headers.items()}


class TransportBase(ABC):
    """`post` and `get` as one `_request`, which each client library implements.

    They hand back `_request`'s own coroutine: a call pays for one, not one more around it.
    """

    def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> Coroutine[Any, Any, HttpResponse]:
        return self._request("POST", url, headers=headers, body=body, timeout_s=timeout_s)

    def get(
        self, url: str, *, headers: Mapping[str, str], timeout_s: float
    ) -> Coroutine[Any, Any, HttpResponse]:
        return self._request("GET", url, headers=headers, body=None, timeout_s=timeout_s)

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


class StreamBase(ABC):
    """An open response whose reads raise `TransportError`, never the library's exceptions."""

    def __init__(self, headers: Mapping[str, str], *, status: int) -> None:
        """`headers`: found by lower-case name (`lower` them unless the library's mapping
        is case-insensitive)."""
        self.status = status
        self.headers = headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        with self._errors():
            async for chunk in self._chunks():
                yield chunk

    async def next_chunk(self) -> bytes:
        """The body's next piece as it arrives, b"" once it has ended.

        A call per read, not a generator: a stream pays every layer on every read. The
        library's exception is translated when there is one, not a context entered per read.
        """
        try:
            return await self._next_chunk()
        except BaseException:
            with self._errors():
                raise

    async def read(self) -> bytes:
        with self._errors():
            return await self._read_all()

    @abstractmethod
    def _errors(self) -> AbstractContextManager[None]:
        """A context that turns the library's exceptions into `TransportError`."""

    @abstractmethod
    def _chunks(self) -> AsyncIterator[bytes]: ...

    @abstractmethod
    def _next_chunk(self) -> Awaitable[bytes]:
        """The library's read of the next piece; b"" at the end."""

    @abstractmethod
    async def _read_all(self) -> bytes: ...

    @abstractmethod
    async def aclose(self) -> None: ...
