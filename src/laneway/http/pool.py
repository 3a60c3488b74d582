"""One transport per distinct `UpstreamSettings`, so providers that agree share a pool."""

from __future__ import annotations

from collections.abc import Callable

from laneway.http.settings import UpstreamSettings
from laneway.http.transport import HttpTransport


class TransportPool:
    """Hands out the transport for a provider's settings; closes them all at the end."""

    def __init__(self, make: Callable[[UpstreamSettings], HttpTransport]) -> None:
        self._make = make
        self._transports: dict[UpstreamSettings, HttpTransport] = {}

    def get(self, settings: UpstreamSettings) -> HttpTransport:
        transport = self._transports.get(settings)
        if transport is None:
            transport = self._transports[settings] = self._make(settings)
        return transport

    async def aclose(self) -> None:
        transports, self._transports = self._transports, {}
        closed: set[int] = set()
        for transport in transports.values():  # one transport may serve many settings
            if id(transport) not in closed:
                closed.add(id(transport))
                await transport.aclose()
