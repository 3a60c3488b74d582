"""The `adapters` fixture: HTTP adapters over `httpx.MockTransport`, closed after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest
from wire_helpers import AdapterMaker

from laneway.clock import FakeClock
from laneway.http import HttpxTransport
from laneway.providers.base import AdapterDeps
from laneway.types import ModelInfo


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
