"""What a client can send that once gave a 500, a fetch of its choosing, or a silent cut.

Error bodies are OpenAI's (`{"error": {"message", "type", "param", "code"}}`,
API reference, "Error codes"); a failure inside a stream is an SSE event
`data: {"error": {...}}`, which openai-python's `Stream.__stream__`
(`_streaming.py`) raises as `APIError` with that object as `body`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from server_harness import Serve, fake_config
from test_http_errors import HI, error_of

from laneway.events import RequestFinished
from laneway.types import Delta, TextDelta

SCHEMA_PARAM = "response_format.json_schema.schema"


def schema_format(schema: dict[str, Any]) -> Any:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


@pytest.mark.parametrize(
    "schema",
    [{"type": "nonsense"}, {"pattern": "("}, {"$ref": "#"}, {"allOf": [{"$ref": "#"}]}],
)
@pytest.mark.parametrize("stream", [False, True])
def test_an_unusable_response_schema_is_400_before_any_provider(
    serve: Serve, schema: dict[str, Any], stream: bool
) -> None:
    server = serve()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, response_format=schema_format(schema), stream=stream
        )
    error = error_of(info.value)
    assert (error["param"], error["code"]) == (SCHEMA_PARAM, "invalid_field")
    assert "not a usable JSON Schema" in error["message"]
    assert server.fake.calls == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_degraded_lane_does_not_hide_a_bad_schema_behind_its_200(
    serve: Serve, stream: bool
) -> None:
    """The degraded answer is for providers failing, not for the client's own mistake."""
    degraded = {"primary": "fake/c", "degraded": {"message": "try later"}}
    server = serve(fake_config(lanes={"chat": degraded}))
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, response_format=schema_format({"$ref": "#/x"}), stream=stream
        )
    assert error_of(info.value)["param"] == SCHEMA_PARAM
    assert server.fake.calls == []


def test_a_remote_ref_is_refused_and_the_server_fetches_nothing(
    serve: Serve, counting_server: tuple[str, list[str]]
) -> None:
    url, asked = counting_server
    server = serve()
    schema = {"type": "object", "properties": {"a": {"$ref": f"{url}/s.json"}}}
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, response_format=schema_format(schema)
        )
    assert error_of(info.value)["param"] == SCHEMA_PARAM
    assert asked == []
    assert server.fake.calls == []


def test_a_usable_schema_still_checks_the_output(serve: Serve) -> None:
    server = serve()
    schema = {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}}, "required": ["n"]}
    schema["$defs"] = {"n": {"type": "integer"}}
    server.fake.enqueue("c", text='{"n": 3}')
    done = server.client().chat.completions.create(
        model="chat", messages=HI, response_format=schema_format(schema)
    )
    assert done.choices[0].message.content == '{"n": 3}'
    server.fake.enqueue("c", text='{"n": "three"}')
    with pytest.raises(openai.UnprocessableEntityError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, response_format=schema_format(schema)
        )
    assert "schema: n: 'three' is not of type 'integer'" in error_of(info.value)["message"]
    assert info.value.response.headers["x-laneway-trace"] != "none"
    assert info.value.response.headers["x-laneway-decision"] != "none"


def test_a_pii_leak_mid_stream_ends_it_with_its_own_code(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("c", stream_chunks=["Write to ", "ada@example.com", " today"])
    stream = server.client().chat.completions.create(model="chat", messages=HI, stream=True)
    with pytest.raises(openai.APIError) as info:
        for _ in stream:
            pass
    assert isinstance(info.value.body, dict)
    assert (info.value.body["type"], info.value.body["code"]) == (
        "invalid_response_error",
        "pii_leak",
    )
    assert "fake/c" in info.value.body["message"]
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(finished, RequestFinished)  # not `interrupted`: the stream ended so
    assert (finished.status, finished.error_code) == ("failed", "pii_leak")


def test_a_bug_mid_stream_ends_it_with_an_error_event_not_a_silent_cut(serve: Serve) -> None:
    server = serve()

    async def broken(*args: Any, **kwargs: Any) -> AsyncIterator[Delta]:
        yield TextDelta("half an answer ")
        raise RuntimeError("a bug in an adapter")

    server.fake.stream = broken  # type: ignore[method-assign]
    with httpx.stream(
        "POST",
        f"{server.url}/v1/chat/completions",
        json={"model": "chat", "messages": HI, "stream": True},
        timeout=5,
    ) as response:
        body = b"".join(response.iter_bytes())
    assert response.status_code == 200
    events = [json.loads(line[6:]) for line in body.split(b"\n\n") if line.startswith(b"data: {")]
    assert events[0]["object"] == "chat.completion.chunk"
    assert events[-1]["error"]["code"] == "internal_error"
    assert b"[DONE]" not in body
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(finished, RequestFinished)  # a bug, not a client that left
    assert (finished.status, finished.error_code) == ("failed", "unknown")


def test_an_unreachable_state_store_serves_what_it_may_and_503s_the_rest(serve: Serve) -> None:
    """Nothing listens on port 1. By the default `on_state_error`, breakers fail open (a key
    with no limits is served), a key's budget fails closed (503 `state_unavailable`, never
    a 500); with `breakers: closed` the breaker check refuses too."""
    keys = [{"key": "k"}, {"key": "b", "budget_usd": 5.0}]
    server = serve(
        fake_config(state={"url": "redis://127.0.0.1:1/0"}, server={"keys": keys, "admin_key": "r"})
    )
    served = server.client("k").chat.completions.create(model="chat", messages=HI)
    assert served.choices[0].message.content
    with pytest.raises(openai.InternalServerError) as info:
        server.client("b").chat.completions.create(model="chat", messages=HI)
    assert info.value.status_code == 503
    assert error_of(info.value)["code"] == "state_unavailable"
    assert "budget" in error_of(info.value)["message"]
    breakers = httpx.get(f"{server.url}/admin/breakers", headers={"Authorization": "Bearer r"})
    assert breakers.status_code == 200  # this process's own breakers, while Redis is down

    closed = serve(
        fake_config(
            state={"url": "redis://127.0.0.1:1/0", "on_state_error": {"breakers": "closed"}},
            server={"keys": keys, "admin_key": "r"},
        )
    )
    with pytest.raises(openai.InternalServerError) as refused:
        closed.client("k").chat.completions.create(model="chat", messages=HI)
    assert error_of(refused.value)["code"] == "state_unavailable"
    finished = closed.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(finished, RequestFinished)  # audited with its own code and a trace
    assert (finished.status, finished.error_code) == ("failed", "state_unavailable")
    assert "state_store:unavailable" in finished.trace


def test_a_deeply_nested_admin_body_is_400(serve: Serve) -> None:
    server = serve()
    answer = httpx.post(
        f"{server.url}/admin/kill-switch",
        content=b"[" * 4000,
        timeout=5,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "on"


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "chat", "messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"model": "chat", "user": "\\udfff", "messages": [{"role": "user", "content": "x"}]}',
        b'{"model": "chat", "metadata": {"job_id": "\\ud800"}, "messages": []}',
    ],
)
def test_a_lone_surrogate_escape_is_400_not_500(serve: Serve, body: bytes) -> None:
    """RFC 8259 section 8.2: such a string is valid JSON syntax but no Unicode text; no
    UTF-8 encoder (the audit row, the user-id hash) can take it."""
    server = serve()
    answer = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=body,
        timeout=5,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_json"
    assert "surrogate" in answer.json()["error"]["message"]
    assert server.fake.calls == []


def test_a_request_the_http_parser_refuses_gets_openais_error_shape(serve: Serve) -> None:
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: -5\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head
    assert json.loads(body)["error"]["code"] == "invalid_http"


def test_the_admin_body_limit_names_itself_not_a_setting_it_does_not_read(serve: Serve) -> None:
    server = serve(fake_config(server={"max_body_bytes": 1_000_000}))
    answer = httpx.post(
        f"{server.url}/admin/kill-switch",
        content=b" " * 5000,
        timeout=5,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 413
    assert "4096 bytes (fixed for the admin endpoints)" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"job_id": "j" * 513}}, "metadata.job_id"),
    ],
)
def test_metadata_keeps_openais_limits(serve: Serve, extra: dict[str, Any], param: str) -> None:
    """OpenAI's `Metadata` (tests/specs/openai-chat.prism.yaml): 16 pairs, keys up to 64
    characters, values up to 512; each lands in the audit row."""
    server = serve()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(model="chat", messages=HI, **extra)
    assert error_of(info.value)["param"] == param


def test_a_laneway_header_is_bounded(serve: Serve) -> None:
    server = serve()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, extra_headers={"X-Laneway-Job-Id": "j" * 513}
        )
    assert error_of(info.value)["param"] == "x-laneway-job-id"
    done = server.client().chat.completions.create(
        model="chat", messages=HI, extra_headers={"X-Laneway-Job-Id": "j" * 512}
    )
    assert done.choices


def test_a_bug_before_the_answer_is_an_openai_500_counted_under_its_route(serve: Serve) -> None:
    server = serve()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in an adapter")

    server.fake.complete = broken  # type: ignore[method-assign]
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="chat", messages=HI)
    assert info.value.status_code == 500
    assert error_of(info.value)["code"] == "internal_error"
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.error_code) == ("failed", "unknown")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'laneway_http_requests_total{route="/v1/chat/completions",status="500"} 1.0' in metrics


def test_a_bug_on_a_degraded_lane_answers_its_message_not_an_empty_one(serve: Serve) -> None:
    server = serve(
        fake_config(lanes={"chat": {"primary": "fake/c", "degraded": {"message": "later"}}})
    )

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in an adapter")

    server.fake.complete = broken  # type: ignore[method-assign]
    raw = server.client().chat.completions.with_raw_response.create(model="chat", messages=HI)
    assert raw.headers["x-laneway-degraded"] == "true"
    assert raw.parse().choices[0].message.content == "later"
