"""uvicorn's httptools protocol: the writes of one loop pass sent as one, and a
deadline and a size bound for a request's head.

uvicorn writes a response's head and each body message separately, and every
write is a `send()` system call: two per JSON answer, four for a short stream.
The writes of one request almost always happen in one pass of the event loop
(the app does not wait between them), so `JoinedWrites` holds them until the
end of that pass and sends them together: one system call per answer, about
12 µs less CPU per call saved (docs/performance.md, `## Server`). Nothing
waits longer than the current pass of the loop, and a finished answer not at all.

uvicorn bounds the idle time between requests (keep-alive) but not the time a
client takes to send a request's head: a connection that sends nothing, or half
a request line, is held open for ever (one file descriptor each, the classic
slow-loris). `HeadSweep` closes such connections, sweeping every
`HttpProtocol.head_sweep_s` seconds: one that waited for its head at two sweeps
in a row, with no request begun between, is closed (after 15 to 30 s by
default). It costs a request nothing: no timer per request, one per sweep.

Nor does uvicorn bound a head's size with httptools, and the parser joins each
header's pieces by copying them: one endless header line made it hold and copy
megabytes per read, stalling every other connection. `max_head_bytes` bounds
the bytes a connection may send before its head ends (431, then the
connection closes); body bytes do not count.

This subclasses a uvicorn class that is not public API: `pyproject.toml` pins
uvicorn to the versions it was checked against, and
tests/unit/server/test_uvicorn_contract.py fails when the attributes used here
change.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from laneway.server.errors import ApiError, bad_request


class JoinedWrites:
    """A transport proxy: writes queue until the loop's current pass ends, then go as one.

    `close()` sends what is queued first; `abort()` drops it, as the real
    transport would. Everything else is the wrapped transport's.
    """

    __slots__ = ("_loop", "_queued", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._queued: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._queued is None:
            self._queued = [bytes(data)]
            self._loop.call_soon(self.flush)
        else:
            self._queued.append(bytes(data))

    def flush(self) -> None:
        queued, self._queued = self._queued, None
        if queued and not self.transport.is_closing():
            self.transport.write(queued[0] if len(queued) == 1 else b"".join(queued))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._queued = None
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


_UNSEEN = object()


class HttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` writing through `JoinedWrites`; pass it as uvicorn's `http`.

    A whole answer goes out the moment its last part is sent, not at the end of
    the loop pass: what the handler does after that (metrics, releasing its
    slot) then runs while the answer is already on its way.
    """

    #: seconds between two sweeps for connections still waiting for a request's head
    head_sweep_s: float = 15.0
    #: bytes a request line and its headers may take (Node's and h11's bound is 16 KiB)
    max_head_bytes: int = 64 * 1024

    _joined: JoinedWrites
    _head_seen: object = _UNSEEN  # the request cycle at the last sweep that found us waiting
    _in_head = True  # waiting for, or reading, a request head (not a body)
    _head_bytes = 0  # bytes received since this head began

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._joined = JoinedWrites(transport, self.loop)
        joined: Any = self._joined
        super().connection_made(joined)
        HeadSweep.ensure(self.loop, self.server_state, self.head_sweep_s)

    def data_received(self, data: bytes) -> None:
        """Parse `data`; past `max_head_bytes` of one head, answer 431 and close.

        Counted per read, checked after it is parsed: the parser holds at most
        the bound and one read (uvloop reads up to 256 KiB).
        """
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if (
            self._in_head
            and self._head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._answer_and_close(
                b"431 Request Header Fields Too Large",
                ApiError(
                    431,
                    f"the request line and headers passed {self.max_head_bytes} bytes; "
                    "send fewer or shorter headers",
                    type="invalid_request_error",
                    code="request_head_too_large",
                ),
            )

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser refused, answered in OpenAI's error shape, not plain text."""
        error = bad_request(
            f"the HTTP request could not be parsed ({msg.rstrip('.')}); check its request "
            "line, headers and framing",
            code="invalid_http",
        )
        self._answer_and_close(b"400 Bad Request", error)

    def _answer_and_close(self, status: bytes, error: ApiError) -> None:
        """An error no request cycle can send (there is none), then the connection closes."""
        body = error.body()
        head = [b"HTTP/1.1 ", status, b"\r\n"]
        for name, value in self.server_state.default_headers:  # date, server, as uvicorn's
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def waits_too_long_for_a_head(self) -> bool:
        """True at the second sweep in a row that finds this connection waiting for a head.

        Waiting: no request in flight and no keep-alive timer armed (uvicorn
        cancels it as soon as any byte of the next request arrives).
        """
        cycle = self.cycle
        waiting = (
            (cycle is None or cycle.response_complete)
            and self.timeout_keep_alive_task is None
            and not self.pipeline
        )
        if not waiting:
            self._head_seen = _UNSEEN
            return False
        if self._head_seen is cycle:
            return True
        self._head_seen = cycle
        return False

    def on_response_complete(self) -> None:
        self._joined.flush()
        super().on_response_complete()


class HeadSweep:
    """One timer per server: closes the connections whose request head is overdue.

    It runs while the server has connections and stops with the last one; the
    next connection starts it again (on that connection's loop).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, server_state: Any, every_s: float) -> None:
        self.loop = loop
        self._server_state = weakref.ref(server_state)
        self._every_s = every_s
        self.running = True
        loop.call_later(every_s, self.sweep)

    @classmethod
    def ensure(cls, loop: asyncio.AbstractEventLoop, server_state: Any, every_s: float) -> None:
        sweep = _SWEEPS.get(server_state)
        if sweep is None or not sweep.running or sweep.loop is not loop:
            _SWEEPS[server_state] = cls(loop, server_state, every_s)

    def sweep(self) -> None:
        server_state = self._server_state()
        connections = server_state.connections if server_state is not None else ()
        if not connections:
            self.running = False
            return
        for connection in list(connections):
            if isinstance(connection, HttpProtocol) and connection.waits_too_long_for_a_head():
                connection.transport.close()
        self.loop.call_later(self._every_s, self.sweep)


#: the sweep of each server (uvicorn's `ServerState`), gone with the server
_SWEEPS: weakref.WeakKeyDictionary[Any, HeadSweep] = weakref.WeakKeyDictionary()
