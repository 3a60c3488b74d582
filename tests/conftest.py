"""Shared fixtures: real services are required under CI=true, optional on a laptop; HTTP
adapters over `httpx.MockTransport` (`adapters`), for the unit and conformance suites."""

from __future__ import annotations

import asyncio
import http.server
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from laneway.clock import FakeClock
from laneway.http import HttpxTransport
from laneway.providers.base import AdapterDeps
from laneway.types import ModelInfo
from virtual_time import new_virtual_loop
from wire_helpers import AdapterMaker

IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests (and their fixtures) marked `virtual_time` run on a virtual-time loop
    (virtual_time.py); every other test on a plain asyncio loop."""
    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual_time": new_virtual_loop}
    return {"asyncio": asyncio.new_event_loop}


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """Fail under CI (the service must be there), skip elsewhere."""
    if _port_open(port):
        return
    message = f"{name} is not listening on 127.0.0.1:{port} (bash .ci/services.sh starts it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", 5432)
    return os.environ.get("LANEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", 6379)
    return os.environ.get("LANEWAY_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that answers `{}` and records every path asked of it:
    proof that laneway fetched nothing when the list stays empty."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


@pytest.fixture
async def adapters() -> AsyncIterator[AdapterMaker]:
    """`adapters(kind, AdapterClass, SpecClass, key_env, key)` gives `make(upstream, *, env=None,
    catalog=None, **spec)`: an adapter of `kind` whose key sits in `key_env` (unless `env`
    says otherwise), calling `upstream` through a MockTransport."""
    transports: list[HttpxTransport] = []

    def maker(
        kind: str, adapter: Callable[..., Any], spec: Callable[..., Any], key_env: str, key: str
    ) -> Callable[..., Any]:
        def make(
            upstream: Callable[[httpx.Request], httpx.Response],
            *,
            env: Mapping[str, str] | None = None,
            catalog: Mapping[str, ModelInfo] | None = None,
            **fields: Any,
        ) -> Any:
            transport = HttpxTransport(transport=httpx.MockTransport(upstream))
            transports.append(transport)
            deps = AdapterDeps(
                transport=transport,
                clock=FakeClock(),
                env={key_env: key} if env is None else env,
                catalog=catalog or {},
            )
            return adapter(kind, spec(kind=kind, **fields), deps)

        return make

    yield maker
    for transport in transports:
        await transport.aclose()
