"""A request head is bounded in bytes: an endless header line gets 431 and a closed connection.

Raw sockets speak HTTP/1.1 as RFC 9112 frames it; 431 is RFC 6585 section 5.
Without the bound, httptools joined the growing header by copying it on every
read, and one such connection held the event loop for seconds at a time.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from server_harness import RunningServer, Serve

from laneway.server.protocol import HttpProtocol

LIMIT = HttpProtocol.max_head_bytes
HEAD = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: "


@pytest.fixture
def server(serve: Serve) -> RunningServer:
    return serve()


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_an_endless_header_line_is_431_and_others_are_answered_meanwhile(
    server: RunningServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as hostile, httpx.Client() as other:
        hostile.sendall(HEAD)
        sent = len(HEAD)
        while sent < LIMIT:  # right up to the bound, never past it
            chunk = b"a" * min(16 * 1024, LIMIT - sent)
            hostile.sendall(chunk)
            sent += len(chunk)
            health = other.get(f"{server.url}/healthz", timeout=10)
            assert health.status_code == 200
        hostile.sendall(b"a")  # one byte past: the last byte the server reads
        answer = read_all(hostile)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in head
    error = json.loads(body)["error"]
    assert error["code"] == "request_head_too_large"
    assert str(LIMIT) in error["message"]


def test_a_large_head_under_the_bound_and_a_large_body_are_answered(
    server: RunningServer,
) -> None:
    server.fake.enqueue("c", text="whole")
    big_header = b"x" * (LIMIT - 2048)
    body = json.dumps(
        {"model": "chat", "messages": [{"role": "user", "content": "y" * (3 * LIMIT)}]}
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nX-Big: " + big_header + b"\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(request)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"whole" in answer


def test_the_bound_applies_to_each_head_on_a_kept_alive_connection(server: RunningServer) -> None:
    """The second request's head counts from its own start, not from the connection's."""
    small = (
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * (LIMIT // 2) + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        for _ in range(3):  # together past the bound, each well under it
            sock.sendall(small)
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
