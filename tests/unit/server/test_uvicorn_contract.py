"""What `server/protocol.py` uses of uvicorn's `HttpToolsProtocol`, which is not public API.

pyproject.toml pins uvicorn to the versions this was checked against. When a
new uvicorn renames or drops any of these, this test fails first, naming what
moved, before the server tests fail in less obvious ways. Read
uvicorn/protocols/http/httptools_impl.py of the new version, adjust
`HttpProtocol`, then widen the pin.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from laneway.server.protocol import HttpProtocol

#: methods `HttpProtocol` overrides, with the parameters it passes on
OVERRIDDEN = {
    "connection_made": ["self", "transport"],
    "data_received": ["self", "data"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
    "on_response_complete": ["self"],
    "send_400_response": ["self", "msg"],
}
#: per-connection state `HttpProtocol` reads
READ = ("loop", "server_state", "transport", "cycle", "pipeline", "timeout_keep_alive_task")


async def _app(scope: Any, receive: Any, send: Any) -> None:
    return None


@pytest.fixture
def protocol() -> HttpToolsProtocol:
    config = uvicorn.Config(_app, http=HttpProtocol, lifespan="off")
    return HttpToolsProtocol(config, ServerState(), {}, _loop=asyncio.new_event_loop())


@pytest.mark.parametrize(("name", "parameters"), OVERRIDDEN.items())
def test_the_methods_laneway_overrides_are_still_there(name: str, parameters: list[str]) -> None:
    method = getattr(HttpToolsProtocol, name, None)
    assert callable(method), f"uvicorn's HttpToolsProtocol has no {name}() any more"
    assert list(inspect.signature(method).parameters) == parameters


def test_the_state_laneway_reads_is_still_there(protocol: HttpToolsProtocol) -> None:
    try:
        missing = [name for name in READ if not hasattr(protocol, name)]
        assert not missing, f"HttpToolsProtocol lost {missing}"
        assert protocol.cycle is None
        assert protocol.timeout_keep_alive_task is None
        assert len(protocol.pipeline) == 0
    finally:
        protocol.loop.close()


def test_the_server_state_and_cycle_laneway_reads_are_still_there() -> None:
    state = ServerState()
    assert isinstance(state.connections, set)
    assert isinstance(state.default_headers, list)
    assert "response_complete" in inspect.getsource(RequestResponseCycle.__init__)


def test_the_parser_reports_to_the_hooks_laneway_counts_head_bytes_with() -> None:
    """httptools calls `on_headers_complete` and `on_message_complete` on the protocol."""
    source = inspect.getsource(HttpToolsProtocol.__init__)
    assert "httptools.HttpRequestParser(self)" in source
