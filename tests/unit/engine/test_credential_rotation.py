"""Credential profiles: a rate-limited or refused key rotates to the next profile of the
same provider before any fallback model. Labels are `provider[profile]`
(`config.credentials.Credential.label`).

The HTTP case speaks Chat Completions (openai-openapi.yaml): a 429 error body
with `retry-after`, then the `POST /chat/completions` example response.
"""

from __future__ import annotations

from typing import Any

from engine_scenario import (
    ZAI_HOST,
    Upstream,
    ask,
    config,
    fake,
    gateway,
    openai_completion,
    openai_error,
)

from laneway.clock import FakeClock
from laneway.types import StreamDone, StreamOpened, TaskContext

PROFILES = [
    {"name": "first", "api_key_env": "P_KEY_1"},
    {"name": "second", "api_key_env": "P_KEY_2"},
]
ENV = {"P_KEY_1": "key-one", "P_KEY_2": "key-two"}
CTX = TaskContext(lane="work")


def rotating(**provider: Any) -> dict[str, Any]:
    return config(
        {"work": {"primary": "p/m", "fallback": ["q/n"]}},
        providers={
            "p": {"kind": "fake", "credentials": PROFILES, **provider},
            "q": {"kind": "fake"},
        },
    )


async def test_rate_limited_first_profile_rotates_to_the_second_before_fallback() -> None:
    clock = FakeClock()
    gw = gateway(rotating(), env=ENV, clock=clock)
    fake(gw, "p").enqueue("m", error_code="rate_limit", status=429, retry_after_s=30)
    fake(gw, "p").enqueue("m", text="served by the second key")

    done = await gw.complete(ask(), CTX)

    assert done.content == "served by the second key"
    assert done.trace == ("p[first]/m:rate_limit", "p[second]/m:success")
    assert done.credential == "p[second]"
    assert [(a.credential, a.code, a.attempt) for a in done.attempts] == [
        ("p[first]", "rate_limit", 1),
        ("p[second]", "success", 1),
    ]
    assert clock.sleeps == []  # another key needs no wait
    assert fake(gw, "q").calls == []


async def test_an_auth_failure_rotates_too() -> None:
    gw = gateway(rotating(), env=ENV)
    fake(gw, "p").enqueue("m", error_code="auth", status=401)
    fake(gw, "p").enqueue("m", text="ok")
    done = await gw.complete(ask(), CTX)
    assert done.trace == ("p[first]/m:auth", "p[second]/m:success")


async def test_a_profile_whose_variable_is_missing_is_not_tried() -> None:
    gw = gateway(rotating(), env={"P_KEY_2": "key-two"})
    fake(gw, "p").enqueue("m", text="ok")
    done = await gw.complete(ask(), CTX)
    assert done.trace == ("p[second]/m:success",)


async def test_both_profiles_limited_then_the_fallback_model() -> None:
    gw = gateway(rotating(), env=ENV)
    for _ in range(4):  # the second profile would get the rate_limit retries
        fake(gw, "p").enqueue("m", error_code="rate_limit")
    fake(gw, "q").enqueue("n", text="fallback")

    done = await gw.complete(ask(), CTX)

    # the third rate_limit opens m's breaker (threshold 3): the next retry asks it first
    assert done.trace == (
        "p[first]/m:rate_limit",
        "p[second]/m:rate_limit",
        "p[second]/m:retry",
        "p[second]/m:rate_limit",
        "p[second]/m:retry",
        "p/m:circuit_open",
        "q/n:success",
    )
    assert fake(gw, "p").pending("m") == 1


async def test_rotation_sends_the_second_key_on_the_wire() -> None:
    upstream = Upstream()
    upstream.queue(
        ZAI_HOST,
        openai_error(429, "requests", "Rate limit reached", **{"retry-after": "20"}),
        openai_completion("second key worked"),
    )
    cfg = config(
        {"work": {"primary": "zai/glm-4.7"}},
        providers={"zai": {"kind": "openai_compatible", "preset": "zai", "credentials": PROFILES}},
    )
    async with gateway(cfg, env=ENV, transport=upstream.transport()) as gw:
        done = await gw.complete(ask(), CTX)

    assert done.trace == ("zai[first]/glm-4.7:rate_limit", "zai[second]/glm-4.7:success")
    assert [r.headers["authorization"] for r in upstream.requests] == [
        "Bearer key-one",
        "Bearer key-two",
    ]


async def test_a_stream_rotates_profiles_before_its_first_delta() -> None:
    gw = gateway(rotating(), env=ENV)
    fake(gw, "p").enqueue("m", error_code="rate_limit", status=429)
    fake(gw, "p").enqueue("m", stream_chunks=["second ", "key"])

    events = [e async for e in gw.stream(ask(), CTX)]

    opened, done = events[0], events[-1]
    assert isinstance(opened, StreamOpened)
    assert opened.trace == ("p[first]/m:rate_limit", "p[second]/m:streaming")
    assert isinstance(done, StreamDone)
    assert done.completion.trace == ("p[first]/m:rate_limit", "p[second]/m:success")
    assert done.completion.credential == "p[second]"
