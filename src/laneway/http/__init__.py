"""The one place laneway talks HTTP to upstreams (import contract: only here).

A well-kept client library, aiohttp, configured for calls that carry API keys
(`_aiohttp.py`: no redirects, bounded heads and bodies, proxies, the system trust
store plus `tls.ca_file`), behind the small `HttpTransport` seam that adapters
speak. Tests hand adapters `HttpxTransport` over an `httpx.MockTransport`.
Importing this package loads no client library: they load on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from laneway.http.pool import TransportPool
from laneway.http.settings import DIRECT, UpstreamSettings
from laneway.http.transport import (
    HttpResponse,
    HttpStream,
    HttpTransport,
    TransportError,
    TransportErrorKind,
)

if TYPE_CHECKING:
    from laneway.http._aiohttp import AiohttpTransport
    from laneway.http._httpx import HttpxTransport


def default_transport(
    settings: UpstreamSettings | None = None, *, env: Mapping[str, str] | None = None
) -> HttpTransport:
    """The production client for one provider's `settings`, proxies read from `env`."""
    from laneway import __version__
    from laneway.http._aiohttp import AiohttpTransport

    return AiohttpTransport(settings, env=env, user_agent=f"laneway/{__version__}")


def __getattr__(name: str) -> object:
    """The transport classes, imported (with their library) only when asked for."""
    if name == "AiohttpTransport":
        from laneway.http._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "HttpxTransport":
        from laneway.http._httpx import HttpxTransport

        return HttpxTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIRECT",
    "AiohttpTransport",
    "HttpResponse",
    "HttpStream",
    "HttpTransport",
    "HttpxTransport",
    "TransportError",
    "TransportErrorKind",
    "TransportPool",
    "UpstreamSettings",
    "default_transport",
]
