"""Nothing a client sends gives a 500 or a hang: raw HTTP with broken bodies and headers."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_harness import RunningServer, Serve, fake_config

URL = "/v1/chat/completions"
JSON = {"content-type": "application/json"}


@pytest.fixture
def server(serve: Serve) -> RunningServer:
    return serve(fake_config(server={"max_body_bytes": 2048, "max_messages": 3}))


def assert_openai_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"x"',
        b"\xff\xfe\x00",
        b'{"model": null, "messages": null}',
        b'{"model": "coding", "messages": [null]}',
        b'{"model": "coding", "messages": [{"role": [], "content": "x"}]}',
        b'{"model": "coding", "messages": [{"role": "user", "content": {"a": 1}}]}',
        b'{"model": "coding", "messages": [{"role": "user", "content": [{"type": "text"}]}]}',
        b'{"model": "coding", "messages": [{"role": "user", "content": "x"}], "tools": 5}',
        b'{"model": "coding", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1e999}',
        b'{"model": "coding", "messages": [{"role": "user", "content": "x"}], "seed": "1"}',
        b'{"model": "coding", "messages": [{"role": "assistant", "tool_calls": [{}]}]}',
        b'{"model": "coding", "messages": [{"role": "user", "content": "x"}], "metadata": [1]}',
        b'{"model": "coding", "messages": [{"role": "user", "content": "x"}]' + b"]" * 5,
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_broken_bodies_are_400(server: RunningServer, body: bytes) -> None:
    response = httpx.post(server.url + URL, content=body, headers=JSON)
    assert_openai_error(response, 413 if len(body) > 2048 else 400)


def test_deep_nesting_within_the_size_limit_is_400(server: RunningServer) -> None:
    body = b'{"model": "coding", "messages": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert_openai_error(httpx.post(server.url + URL, content=body, headers=JSON), 400)


def test_too_many_messages_is_400(server: RunningServer) -> None:
    body = {"model": "coding", "messages": [{"role": "user", "content": "x"}] * 4}
    response = httpx.post(server.url + URL, json=body)
    assert_openai_error(response, 400)
    assert response.json()["error"]["code"] == "too_many_messages"


def test_body_over_the_limit_is_413(server: RunningServer) -> None:
    body = {"model": "coding", "messages": [{"role": "user", "content": "x" * 5000}]}
    response = httpx.post(server.url + URL, json=body)
    assert_openai_error(response, 413)
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_chunked_body_over_the_limit_is_413_without_reading_it_all(server: RunningServer) -> None:
    def chunks() -> object:
        for _ in range(100):
            yield b"x" * 1000

    response = httpx.post(server.url + URL, content=chunks(), headers=JSON)  # type: ignore[arg-type]
    assert_openai_error(response, 413)


def test_a_lying_content_length_is_refused_before_reading(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 999999\r\n\r\n"
        )
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")


def test_unknown_path_and_wrong_method(server: RunningServer) -> None:
    assert_openai_error(httpx.get(server.url + "/v1/nope"), 404)
    wrong = httpx.get(server.url + URL)
    assert_openai_error(wrong, 405)
    assert wrong.headers["allow"] == "POST"


def test_non_ascii_laneway_headers_are_handled(server: RunningServer) -> None:
    response = httpx.post(
        server.url + URL,
        json={"model": "coding", "messages": [{"role": "user", "content": "x"}]},
        headers={"X-Laneway-Phase": "plän".encode("latin-1"), "X-Laneway-Complexity": "???"},
    )
    assert_openai_error(response, 400)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["coding", "nope", "fake/a", ""]) | json_values,
        "messages": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "role": st.sampled_from(["user", "tool", "x"]) | json_values,
                    "content": json_values,
                    "tool_calls": json_values,
                },
            )
            | json_values,
            max_size=4,
        )
        | json_values,
        "stream": json_values,
        "temperature": json_values,
        "tools": json_values,
        "response_format": json_values,
        "metadata": json_values,
        "stream_options": json_values,
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=chat_like)
def test_fuzzed_bodies_never_give_a_5xx(server: RunningServer, body: object) -> None:
    response = httpx.post(server.url + URL, content=json.dumps(body).encode(), timeout=10)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
