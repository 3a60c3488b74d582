"""A connection that never finishes its request head is closed; real requests never are.

Raw sockets speak HTTP/1.1 as RFC 9112 frames it (request line, headers, CRLF).
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from server_harness import RunningServer, Serve

from laneway.server.protocol import HttpProtocol

SWEEP_S = 0.2


@pytest.fixture
def server(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> RunningServer:
    monkeypatch.setattr(HttpProtocol, "head_sweep_s", SWEEP_S)
    return serve()


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server closes the connection within `within_s` (reads hit EOF)."""
    sock.settimeout(within_s)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def request(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def read_answer(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize(
    "sent", [b"", b"POST /v1/chat/comp", b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n"]
)
def test_a_connection_stuck_before_its_head_ends_is_closed(
    server: RunningServer, sent: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(sent)
        started = time.monotonic()
        assert closed_by_server(sock, within_s=3 * SWEEP_S + 1)
        assert time.monotonic() - started >= SWEEP_S / 2


def test_a_slow_answer_and_a_kept_alive_connection_are_not_cut(server: RunningServer) -> None:
    """A provider slower than several sweeps, then a second request on the same connection."""
    server.fake.enqueue("c", delay_s=5 * SWEEP_S, text="late but whole")
    hi = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request(hi))
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
        time.sleep(3 * SWEEP_S)  # inside uvicorn's keep-alive (5 s): the connection stays
        sock.sendall(request(hi))
        assert read_answer(sock).startswith(b"HTTP/1.1 200")
