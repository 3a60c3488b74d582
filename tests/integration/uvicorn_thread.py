"""uvicorn in a daemon thread, for tests that call a real server from synchronous clients.

uvicorn sets only a `started` flag; `ThreadedServer` also sets an event when its
start-up is over (listening, failed, or its thread gone), so a test waits for
that event instead of polling the flag.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import uvicorn

#: a bound for a server that hangs while starting, not a timing any test depends on
START_TIMEOUT_S = 30.0


class ThreadedServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_over = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_over.set()

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            super().run(sockets=sockets)
        finally:
            self.startup_over.set()  # it died before start-up ended


def serve_in_thread(config: uvicorn.Config, sock: socket.socket) -> Callable[[], None]:
    """Serve on `sock` (bound) in a daemon thread once listening; returns `stop`, which
    lets the server finish its shutdown."""
    server = ThreadedServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    if not server.startup_over.wait(START_TIMEOUT_S) or not server.started:
        server.should_exit = True
        raise RuntimeError("the test server did not start")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop
