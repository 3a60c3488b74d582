"""A hostile upstream and two proxies for the transport conformance suite.

`HostileUpstream` is an asyncio TCP server (TLS optional) that reads each
request's head and body and then runs the test's `Script`, which writes exact
bytes: a well-formed answer, or one that breaks HTTP/1.1 (RFC 9112) on purpose.
`Proxy` is a CONNECT proxy (RFC 9110 §9.3.6) and a forward proxy for
absolute-form requests (RFC 9112 §3.2.2) in one, logging every request it sees.
They are test tools: laneway itself writes no HTTP code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names; a repeated name keeps its last value
    body: bytes
    connection: int  # which connection (1, 2, ...) carried it


@dataclass
class Conn:
    """One accepted connection as a script sees it."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    served: int = 0  # requests answered on it so far

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


Script = Callable[[Request, Conn], Awaitable[None]]
"""Answers one request: writes to `conn` (and may close it)."""


def answer(status: str, body: bytes, *headers: str) -> bytes:
    """A complete answer with a Content-Length."""
    head = "".join(f"{h}\r\n" for h in (*headers, f"Content-Length: {len(body)}"))
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


async def read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, target, headers, body, connection)


@dataclass
class HostileUpstream:
    script: Script
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: list[Conn] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def start(self) -> HostileUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(len(self.connections) + 1, reader, writer)
        self.connections.append(conn)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            while not writer.is_closing():
                request = await read_request(reader, conn.number)
                if request is None:
                    break
                self.requests.append(request)
                await self.script(request, conn)
                conn.served += 1
        writer.close()

    async def close(self) -> None:
        for conn in self.connections:
            conn.writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@dataclass
class Proxy:
    """CONNECT tunnels and absolute-form forwarding; `refuse` answers every CONNECT 403."""

    refuse: bool = False
    #: the Proxy-Authorization value it requires (RFC 9110 §11.7.2), answering 407 without it
    credentials: str | None = None
    log: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        request = await read_request(reader, 0)
        if request is None:
            writer.close()
            return
        self.log.append(f"{request.method} {request.target}")
        if self.credentials and request.headers.get("proxy-authorization") != self.credentials:
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            writer.close()
            return
        if request.method == "CONNECT":
            if self.refuse:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                writer.close()
                return
            host, _, port = request.target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # absolute-form: forward in origin-form, then relay both ways
            authority, _, path = request.target.partition("://")[2].partition("/")
            host, _, port = authority.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            head = f"{request.method} /{path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in request.headers.items()
            )
            up_writer.write(head.encode() + b"\r\n" + request.body)
        self._writers.append(up_writer)
        await asyncio.gather(_relay(reader, up_writer), _relay(up_reader, writer))

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
