"""What the official OpenAI SDK sees on the wire: the SSE framing, and each status as its exception.

Wire formats asserted: tests/specs/openai-chat.prism.yaml,
`CreateChatCompletionRequest.stream` (SSE "data-only" events) and
`ChatCompletionStreamOptions.include_usage` ("an additional chunk will be streamed
before the `data: [DONE]` message ... the `choices` field will always be an empty
array. All other chunks will also include a `usage` field, but with a null value").
Status to exception: openai-python `OpenAI._make_status_error` / `AsyncOpenAI._make_status_error`
(400/401/403/404/409/422/429 have their own class, >= 500 is `InternalServerError`, any
other status, 413 included, the base `APIStatusError`).
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from server_harness import Serve, fake_config

from laneway.types import Usage

HI = [{"role": "user", "content": "hi"}]
DONE = b"data: [DONE]\n\n"


def sse_events(raw: bytes) -> list[bytes]:
    """The payloads of a data-only SSE body; every event must be one `data: ` line."""
    assert raw.endswith(b"\n\n"), raw[-80:]
    events = raw[:-2].split(b"\n\n")
    assert all(e.startswith(b"data: ") and b"\n" not in e for e in events), events
    return [e.removeprefix(b"data: ") for e in events]


def streamed_bytes(serve: Serve, **options: Any) -> bytes:
    """The raw body of a streamed answer (`Hel` `lo` `!`, usage 7+3), requested by the SDK."""
    server = serve()
    server.fake.enqueue("a", stream_chunks=["Hel", "lo", "!"], usage=Usage(7, 3))
    with server.client().chat.completions.with_streaming_response.create(
        model="coding", messages=HI, stream=True, **options
    ) as response:
        assert response.status_code == 200
        return b"".join(response.iter_bytes())


def test_a_stream_ends_with_done_and_the_usage_chunk_comes_just_before_it(serve: Serve) -> None:
    """The SDK stops at `[DONE]` and hides it, so only the bytes show that it is sent, last,
    once, and that the usage chunk (empty `choices`) is the one right before it."""
    raw = streamed_bytes(serve, stream_options={"include_usage": True})
    assert raw.endswith(DONE)
    *chunks, done = sse_events(raw)
    assert done == b"[DONE]"
    assert b"[DONE]" not in b"".join(chunks)
    parsed = [json.loads(c) for c in chunks]
    usage_chunk = parsed[-1]
    assert usage_chunk["object"] == "chat.completion.chunk"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    content = parsed[:-1]
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in content)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in content) == "Hello!"
    assert content[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_stream_without_include_usage_ends_with_the_finish_chunk_and_done(serve: Serve) -> None:
    """Without `include_usage` there is no usage chunk and no chunk has a `usage` key."""
    raw = streamed_bytes(serve)
    assert raw.endswith(DONE)
    *chunks, done = sse_events(raw)
    assert done == b"[DONE]"
    parsed = [json.loads(c) for c in chunks]
    assert all("usage" not in c and len(c["choices"]) == 1 for c in parsed)
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_spent_hourly_limit_is_rate_limit_error_with_the_hours_retry_after(serve: Serve) -> None:
    """`rph` counts per hour, not per minute: Retry-After is the rest of an hour-long window
    (the window opened with the first request, a second or so ago), and the provider is not
    called for the refused request."""
    server = serve(fake_config(server={"keys": [{"key": "k", "name": "team-a", "rph": 2}]}))
    client = server.client("k")
    for _ in range(2):
        assert client.chat.completions.create(model="coding", messages=HI).choices
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="coding", messages=HI)
    error = info.value.response.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")
    assert "team-a" in error["message"]
    assert "2 requests per hour" in error["message"]
    assert 3540 < int(info.value.response.headers["retry-after"]) <= 3600
    assert len(server.fake.calls) == 2


def test_a_body_over_max_body_bytes_is_the_sdks_plain_status_error_413(serve: Serve) -> None:
    """openai-python has no class for 413, so the SDK raises `APIStatusError` itself; the
    provider is not called, and the connection the SDK keeps for its next request still works."""
    server = serve(fake_config(server={"max_body_bytes": 2048}))
    client = server.client()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(
            model="coding", messages=[{"role": "user", "content": "x" * 4096}]
        )
    assert type(info.value) is openai.APIStatusError
    assert info.value.status_code == 413
    assert info.value.body == {
        "message": "the request body is larger than this server's limit of 2048 bytes "
        "(server.max_body_bytes)",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }
    assert server.fake.calls == []
    assert client.chat.completions.create(model="coding", messages=HI).choices


KEYS = {"keys": [{"key": "good", "name": "team-a", "lanes": ["coding"]}]}


@pytest.mark.parametrize(
    ("config", "env", "key", "model", "exception", "status", "code"),
    [
        (fake_config(server=KEYS), {}, "wrong", "coding",
         openai.AuthenticationError, 401, "invalid_api_key"),
        (fake_config(server=KEYS), {}, "good", "chat",
         openai.PermissionDeniedError, 403, "lane_not_allowed"),
        (fake_config(server=KEYS), {}, "good", "nope",
         openai.NotFoundError, 404, "model_not_found"),
        (fake_config(server={"keys": [{"key": "good", "rpm": 1}]}), {}, "good", "coding",
         openai.RateLimitError, 429, "rate_limit_exceeded"),
        (fake_config(), {"LANEWAY_KILL_SWITCH": "1"}, "any", "coding",
         openai.InternalServerError, 503, "kill_switch"),
    ],
    ids=["401", "403", "404", "429", "503-kill-switch"],
)  # fmt: skip
async def test_the_async_sdk_raises_the_matching_exception(
    serve: Serve,
    config: dict[str, Any],
    env: dict[str, str],
    key: str,
    model: str,
    exception: type[openai.APIStatusError],
    status: int,
    code: str,
) -> None:
    """`AsyncOpenAI` maps statuses with its own copy of `_make_status_error`; the exact class
    matters because client code catches e.g. `RateLimitError` to back off. The 429 case
    spends its key's one request per minute first."""
    server = serve(config, env=env)
    async with server.async_client(key) as client:
        if status == 429:
            await client.chat.completions.create(model=model, messages=HI)
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model=model, messages=HI)
    assert type(info.value) is exception
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == code
    assert info.value.response.headers["x-request-id"]
    if status == 429:
        assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    assert len(server.fake.calls) == (1 if status == 429 else 0)
