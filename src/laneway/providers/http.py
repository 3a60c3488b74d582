"""The HTTP edge: one pooled client shared by every adapter, behind a small protocol.

Adapters speak `HttpTransport` only, so tests can hand them an
`httpx.MockTransport` while production uses the faster client (see
docs/performance.md for the measurement that chose it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol


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
