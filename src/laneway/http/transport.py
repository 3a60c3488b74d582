"""The seam adapters speak: `HttpTransport`, what it returns, and its one error.

Adapters never see a client library: they POST bytes and get a status, lower-cased
headers and bytes back, or a `TransportError` whose `kind` already says what went
wrong. Every transport applies the same rules for what an upstream may answer:
an interim or protocol-switching status and any redirect are errors here, not
answers (laneway never follows a redirect: it would carry the API key to
another server, and a 301 would turn the POST into a GET).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urljoin


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # found by lower-case name (case-insensitive or lower-cased)
    body: bytes


class HttpStream(Protocol):
    """An open streaming response: status and headers first, then the body in chunks."""

    status: int
    headers: Mapping[str, str]

    def iter_bytes(self) -> AsyncIterator[bytes]: ...
    async def next_chunk(self) -> bytes:
        """The body's next piece, b"" once it has ended."""
        ...

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


TransportErrorKind = Literal["timeout", "network", "tls", "redirect", "proxy", "invalid"]
"""timeout and network: the upstream or the path to it failed (try again or elsewhere);
tls, redirect and proxy: the configuration must change (`tls.ca_file`, `base_url`,
`proxy:`); invalid: the upstream broke HTTP or a bound (head, body, protocol switch)."""


class TransportError(Exception):
    """A connection-level failure, already classified; adapters turn it into ProviderError."""

    def __init__(
        self,
        message: str,
        *,
        kind: TransportErrorKind,
        location: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: TransportErrorKind = kind
        #: where a redirect pointed (without its query), for the adapter's base_url hint
        self.location = location
        self.url = url  # the redirected request's URL, without its query


def host_of(url: str) -> str:
    """Scheme and host of a URL: error messages name the server, never a path or a query."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}"


def without_query(url: str) -> str:
    """A URL without its user info, query and fragment: safe to show in an error."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("?", 1)[0].split("#", 1)[0]
    authority, slash, path = rest.partition("/")
    path = path.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}://{authority.rsplit('@', 1)[-1]}{slash}{path}"


def refused_status(url: str, status: int, headers: Mapping[str, str]) -> TransportError | None:
    """The error for a status no transport may pass on as an answer, else None.

    1xx here means the client library handed over an interim or switching answer
    as final; 3xx is a redirect laneway will not follow. The message names the
    target (without its query) and the fix, so a moved API is one config edit.
    """
    if 200 <= status < 300 or status >= 400:
        return None
    host = host_of(url)
    if status == 101:
        return TransportError(
            f"{host} switched protocols (101 {headers.get('upgrade', '')!s}) instead of "
            "answering; laneway speaks HTTP only: check base_url",
            kind="invalid",
        )
    if status < 200:
        return TransportError(f"{host} sent only an interim answer ({status})", kind="invalid")
    return redirected(url, status, headers.get("location"))


def redirected(url: str, status: int, location: str | None) -> TransportError:
    """A 3xx as an error naming where it points (`location` keeps it, without its query)."""
    host = host_of(url)
    if not location:
        return TransportError(
            f"{host} answered {status} (a redirect) without a Location; check base_url",
            kind="redirect",
        )
    target = without_query(urljoin(url, location.strip()))
    return TransportError(
        f"{host} redirected ({status}) to {target}; laneway does not follow redirects "
        "(the key would go with it): set base_url to the new address",
        kind="redirect",
        location=target,
        url=without_query(url),
    )


def moved_base_url(url: str, base_url: str, location: str) -> str | None:
    """The `base_url` that would reach `location`, when it kept the request's path tail.

    A call to `{base_url}/chat/completions` redirected to `https://new/v2/chat/completions`
    means `base_url: https://new/v2`; a redirect elsewhere (a login page) gives None.
    """
    url, base_url = without_query(url), base_url.rstrip("/")
    if not url.startswith(base_url):
        return None
    tail = url[len(base_url) :]
    if not tail or not location.endswith(tail) or len(location) == len(tail):
        return None
    return location[: -len(tail)]
