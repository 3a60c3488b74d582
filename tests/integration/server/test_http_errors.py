"""Each failure raises the OpenAI SDK's matching exception with laneway's exact error body."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from server_harness import Serve, fake_config

HI = [{"role": "user", "content": "hi"}]
KEYS = {"keys": [{"key": "good", "name": "team-a", "lanes": ["coding"]}]}


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert exc.response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


def test_missing_key_is_401(serve: Serve) -> None:
    server = serve(fake_config(server=KEYS))
    client = server.client(default_headers={"Authorization": "Basic nothing"})
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="coding", messages=HI)
    assert error_of(info.value)["message"].startswith("missing client key")
    assert info.value.response.headers["www-authenticate"] == "Bearer"
    assert server.fake.calls == []


def test_unknown_key_is_401_with_exact_body(serve: Serve) -> None:
    server = serve(fake_config(server=KEYS))
    with pytest.raises(openai.AuthenticationError) as info:
        server.client("wrong").chat.completions.create(model="coding", messages=HI)
    assert error_of(info.value) == {
        "message": "unknown client key: check the key, or ask for one in server.keys",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }


def test_lane_not_allowed_is_403(serve: Serve) -> None:
    server = serve(fake_config(server=KEYS))
    with pytest.raises(openai.PermissionDeniedError) as info:
        server.client("good").chat.completions.create(model="chat", messages=HI)
    assert error_of(info.value) == {
        "message": "this client key (team-a) may not use lane 'chat'; "
        "ask for it to be added to the key's `lanes` in server.keys",
        "type": "permission_error",
        "param": "model",
        "code": "lane_not_allowed",
    }


def test_unknown_lane_is_404(serve: Serve) -> None:
    server = serve()
    with pytest.raises(openai.NotFoundError) as info:
        server.client().chat.completions.create(model="nope", messages=HI)
    error = error_of(info.value)
    assert (error["code"], error["param"], error["type"]) == (
        "model_not_found",
        "model",
        "not_found_error",
    )
    assert "coding" in error["message"]


def test_missing_messages_is_400_naming_the_field(serve: Serve) -> None:
    server = serve()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(model="coding", messages=[])
    assert error_of(info.value)["param"] == "messages"


def test_wrong_field_type_is_400(serve: Serve) -> None:
    server = serve()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(model="coding", messages=HI, temperature=9)
    error = error_of(info.value)
    assert (error["param"], error["code"]) == ("temperature", "invalid_field")


def test_output_failing_validation_is_422(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("c", text="not json at all")
    with pytest.raises(openai.UnprocessableEntityError) as info:
        server.client().chat.completions.create(
            model="chat", messages=HI, response_format={"type": "json_object"}
        )
    assert error_of(info.value)["code"] == "invalid_response"


def test_every_provider_rate_limited_is_429_with_retry_after(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", error_code="rate_limit", status=429, retry_after_s=7)
    server.fake.enqueue("b", error_code="rate_limit", status=429, retry_after_s=3)
    with pytest.raises(openai.RateLimitError) as info:
        server.client().chat.completions.create(model="coding", messages=HI)
    assert error_of(info.value)["code"] == "upstream_rate_limited"
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.response.headers["x-laneway-trace"] != "none"


def test_every_provider_failing_auth_is_502(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", error_code="auth", status=401)
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="coding", messages=HI)
    assert info.value.status_code == 502
    assert error_of(info.value)["code"] == "upstream_failed"


def test_every_provider_unavailable_is_503(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", error_code="unavailable", status=503)
    server.fake.enqueue("b", error_code="network")
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="coding", messages=HI)
    assert info.value.status_code == 503
    assert error_of(info.value)["code"] == "upstream_unavailable"


def test_lane_deadline_exhausted_is_504(serve: Serve) -> None:
    slow = {"primary": "fake/s", "fallback": ["fake/t"], "timeouts": {"total_s": 1}}
    server = serve(fake_config(lanes={"slow": slow}))
    server.fake.enqueue("s", delay_s=5)
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="slow", messages=HI)
    assert info.value.status_code == 504
    assert error_of(info.value)["code"] == "deadline_exhausted"


def test_budget_exceeded_is_429_that_sdks_do_not_retry(serve: Serve) -> None:
    server = serve(
        fake_config(
            providers={
                "fake": {"kind": "fake", "models": {"p": {"price": {"input": 1e6, "output": 1e6}}}}
            },
            lanes={"pricey": {"primary": "fake/p", "budget": {"usd_per_task": 0.01}}},
        )
    )
    client = server.client(max_retries=2)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="pricey", messages=HI)
    assert error_of(info.value)["code"] == "budget_exceeded"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert server.fake.calls == []


def test_stream_failure_before_start_is_an_http_error(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", error_code="auth", status=401)
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="coding", messages=HI, stream=True)
    assert info.value.status_code == 502


def test_stream_failure_after_start_is_an_error_event(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("a", stream_chunks=["one ", "two ", "three"], cut_after=1)
    stream = server.client().chat.completions.create(model="coding", messages=HI, stream=True)
    seen: list[str | None] = []

    def consume() -> None:
        seen.extend(chunk.choices[0].delta.content for chunk in stream)

    with pytest.raises(openai.APIError) as info:
        consume()
    assert "one " in seen
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == "upstream_unavailable"
