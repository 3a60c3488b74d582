"""Failure semantics under concurrency, over the real adapters (wire sources: failure_cases).

Each case counts the calls that reached each upstream, and checks the trace and
the request's `RequestFinished` (what the audit row is written from).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from failure_cases import (
    ANTHROPIC,
    FIXTURES,
    GEMINI,
    KEYS,
    ZAI,
    World,
    anthropic_error,
    anthropic_ok,
    ask,
    cut_stream,
    gemini_ok,
    run_many,
    truncated_json,
    zai_ok,
)

from laneway.types import ErrorDelta, ModelRef, StreamDone, TaskContext

WORK = TaskContext(lane="work")


def lane(primary: str, *fallback: str, **more: Any) -> dict[str, Any]:
    return {"work": {"primary": primary, "fallback": list(fallback), **more}}


async def test_a_dead_primary_gets_only_the_first_wave_of_eight_concurrent_clients(
    tmp_path: Path,
) -> None:
    world = World(
        {ANTHROPIC: anthropic_error(503, "api_error"), GEMINI: gemini_ok},
        lane("anthropic/claude-opus-4-5", "gemini/gemini-2.5-flash"),
        audit_db=tmp_path / "audit.db",
    )
    async with world.gateway() as gw:
        outcomes = await run_many(gw, 8, WORK, concurrent=True)
        first_wave = world.calls[ANTHROPIC]
        later = await run_many(gw, 24, WORK, concurrent=False)

    # at most one call per client in flight (the bound: 9 for the whole run);
    # every retry asked the breaker and found it open, and so did every later request
    assert 3 <= first_wave <= 8
    assert world.calls[ANTHROPIC] == first_wave
    assert all(o.ok for o in outcomes + later)
    assert any("anthropic/claude-opus-4-5:circuit_open" in o.trace for o in outcomes)
    assert later[0].trace == (
        "anthropic/claude-opus-4-5:circuit_open",
        "gemini/gemini-2.5-flash:success",
    )
    rows = await world.audit_rows()
    assert len(rows) == 32
    assert {(r.status, r.model) for r in rows} == {("success", "gemini/gemini-2.5-flash")}
    assert rows[-1].trace_list() == list(later[-1].trace)


async def test_a_rejected_credential_is_quarantined_for_every_model_of_its_provider(
    tmp_path: Path,
) -> None:
    world = World(
        {ANTHROPIC: anthropic_error(401, "authentication_error"), GEMINI: gemini_ok},
        lane("anthropic/claude-opus-4-5", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"),
        audit_db=tmp_path / "audit.db",
    )
    async with world.gateway() as gw:
        first = await run_many(gw, 8, WORK, concurrent=True)
        rest = await run_many(gw, 92, WORK, concurrent=False)
        in_flight = world.calls[ANTHROPIC]
        assert 1 <= in_flight <= 8  # one per request in flight when the first 401 landed
        world.clock.advance(300)  # breaker.auth_cooldown_s: one probe decides
        probe = await run_many(gw, 3, WORK, concurrent=False)

    assert all(o.ok for o in first + rest + probe)
    assert rest[0].trace == (
        "anthropic/claude-opus-4-5:auth_quarantined",
        "anthropic/claude-sonnet-4-5:auth_quarantined",
        "gemini/gemini-2.5-flash:success",
    )
    assert world.calls[ANTHROPIC] == in_flight + 1  # the probe got a 401: quarantined anew
    assert probe[0].trace[0] == "anthropic/claude-opus-4-5:auth"
    assert probe[1].trace[0] == "anthropic/claude-opus-4-5:auth_quarantined"
    rows = await world.audit_rows()
    assert len(rows) == 103
    quarantined = [r for r in rows if r.trace_list()[:1] == [rest[0].trace[0]]]
    # the first wave's requests that came after the 401, the 92 after it, 2 after the probe
    assert len(quarantined) == (8 - in_flight) + 92 + 2
    skipped = [a for a in quarantined[0].attempt_list() if a.get("skipped")]
    assert [a["code"] for a in skipped] == ["auth_quarantined", "auth_quarantined"]


async def test_the_next_credential_profile_is_used_while_one_is_quarantined() -> None:
    seen: list[str] = []

    def by_key(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["x-api-key"])
        if request.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]:
            return anthropic_error(401, "authentication_error")(request)
        return anthropic_ok(request)

    world = World({ANTHROPIC: by_key}, lane("anthropic/claude-opus-4-5"))
    world.providers["anthropic"] = {
        "kind": "anthropic",
        "credentials": [
            {"name": "a", "api_key": "${ANTHROPIC_API_KEY}"},
            {"name": "b", "api_key": "${ANTHROPIC_KEY_B}"},
        ],
    }
    world.env["ANTHROPIC_KEY_B"] = "sk-ant-test-key-b"
    async with world.gateway() as gw:
        first = await gw.complete(ask(), WORK)
        second = await gw.complete(ask(), WORK)

    assert first.trace == (
        "anthropic[a]/claude-opus-4-5:auth",
        "anthropic[b]/claude-opus-4-5:success",
    )
    assert second.trace == (
        "anthropic[a]/claude-opus-4-5:auth_quarantined",
        "anthropic[b]/claude-opus-4-5:success",
    )
    assert seen == [KEYS["ANTHROPIC_API_KEY"], "sk-ant-test-key-b", "sk-ant-test-key-b"]


async def test_a_primary_answering_truncated_json_trips_its_breaker(tmp_path: Path) -> None:
    world = World(
        {ZAI: truncated_json, ANTHROPIC: anthropic_ok},
        lane("zai/glm-4.7", "anthropic/claude-sonnet-4-5"),
        audit_db=tmp_path / "audit.db",
    )
    async with world.gateway() as gw:
        outcomes = await run_many(gw, 100, WORK, concurrent=False)

    assert world.calls[ZAI] == 3  # breaker.failure_threshold
    assert all(o.ok for o in outcomes)
    assert outcomes[0].trace == (
        "zai/glm-4.7:invalid_response",
        "anthropic/claude-sonnet-4-5:success",
    )
    assert outcomes[-1].trace == ("zai/glm-4.7:circuit_open", "anthropic/claude-sonnet-4-5:success")
    rows = await world.audit_rows()
    assert {(r.status, r.model) for r in rows} == {("success", "anthropic/claude-sonnet-4-5")}
    first = [a["code"] for a in rows[0].attempt_list()]
    assert first == ["invalid_response", "success"]
    assert rows[-1].trace_list() == list(outcomes[-1].trace)


async def test_streams_cut_after_opening_trip_the_breaker_when_they_end(tmp_path: Path) -> None:
    world = World(
        {ANTHROPIC: cut_stream, GEMINI: gemini_ok},
        lane("anthropic/claude-opus-4-5", "gemini/gemini-2.5-flash"),
        audit_db=tmp_path / "audit.db",
    )
    async with world.gateway() as gw:
        ends = []
        for _ in range(4):
            events = [e async for e in gw.stream(ask(), WORK)]
            ends.append(events[-1])

    assert world.calls[ANTHROPIC] == 3
    assert all(isinstance(e, ErrorDelta) and e.error.code.value == "network" for e in ends[:3])
    assert isinstance(ends[3], StreamDone)
    assert ends[3].completion.trace[0] == "anthropic/claude-opus-4-5:circuit_open"
    rows = await world.audit_rows()
    assert [(r.status, r.error_code) for r in rows] == [("failed", "network")] * 3 + [
        ("success", None)
    ]
    assert rows[0].trace_list() == list(ends[0].trace)


async def test_a_cut_stream_continues_on_a_model_that_accepts_a_prefill() -> None:
    bodies: list[dict[str, Any]] = []
    whole = (FIXTURES / "anthropic" / "stream_text.sse").read_bytes()

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if body["model"].startswith("claude-opus"):
            return cut_stream(request)
        return httpx.Response(200, content=whole, headers={"content-type": "text/event-stream"})

    world = World(
        {ANTHROPIC: answer},
        lane("anthropic/claude-opus-4-5", stream={"continue_on": ["anthropic/claude-sonnet-4-5"]}),
    )
    world.providers["anthropic"] = {
        "kind": "anthropic",
        "models": {"claude-sonnet-4-5": {"capabilities": ["streaming", "prefill"]}},
    }
    async with world.gateway() as gw:
        events = [e async for e in gw.stream(ask(), WORK)]

    done = events[-1]
    assert isinstance(done, StreamDone)  # one stream: the cut is not the client's to see
    assert not any(isinstance(e, ErrorDelta) for e in events)
    assert done.completion.content == "HelloHello!"
    assert done.completion.model_ref == ModelRef("anthropic", "claude-sonnet-4-5")
    assert bodies[1]["messages"][-1] == {"role": "assistant", "content": "Hello"}
    assert done.completion.trace == (
        "anthropic/claude-opus-4-5:network",
        "anthropic/claude-sonnet-4-5:continues",
        "anthropic/claude-sonnet-4-5:success",
    )
    assert world.calls[ANTHROPIC] == 2


async def test_a_continuation_that_fails_to_open_leaves_the_cut_standing() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["model"].startswith("claude-opus"):
            return cut_stream(request)
        return anthropic_error(400, "invalid_request_error")(request)

    world = World(
        {ANTHROPIC: answer},
        lane("anthropic/claude-opus-4-5", stream={"continue_on": ["anthropic/claude-sonnet-4-5"]}),
        extra={"breaker": {"failure_threshold": 2}},
    )
    async with world.gateway() as gw:
        events = [e async for e in gw.stream(ask(), WORK)]
        states = await gw.breaker_states()

    end = events[-1]
    assert isinstance(end, ErrorDelta)
    assert end.error.code.value == "network"
    assert end.trace == (
        "anthropic/claude-opus-4-5:network",
        "anthropic/claude-sonnet-4-5:bad_request",
    )
    assert world.calls[ANTHROPIC] == 2
    # the cut counted once (a second count would have opened it at this threshold)
    assert states.get("anthropic/claude-opus-4-5", "closed") == "closed"


async def test_a_cut_stream_is_not_continued_on_a_model_without_prefill_or_with_tools() -> None:
    world = World(
        {ANTHROPIC: cut_stream, GEMINI: gemini_ok},
        lane("anthropic/claude-opus-4-5", stream={"continue_on": ["gemini/gemini-2.5-flash"]}),
    )
    async with world.gateway() as gw:
        events = [e async for e in gw.stream(ask(), WORK)]

    end = events[-1]
    assert isinstance(end, ErrorDelta)
    assert end.error.code.value == "network"
    assert "gemini/gemini-2.5-flash:no_prefill" in end.trace
    assert world.calls[GEMINI] == 0


@pytest.mark.parametrize("state", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_200_concurrent_requests_never_pass_the_job_budget_at_triple_usage(
    state: str, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if state == "memory" else request.getfixturevalue("redis_url")
    limit = 0.05
    world = World(
        {ZAI: zai_ok(usage_factor=3.0)},
        lane("zai/glm-4.7", budget={"usd_per_job": limit}),
        state_url=url,
    )
    job = TaskContext(lane="work", job_id=f"job-{uuid.uuid4().hex}")
    async with world.gateway() as gw:
        outcomes = await run_many(gw, 200, job, concurrent=True)
        report = (await gw.budget_report())[f"job:{job.job_id}"]

    served = [o for o in outcomes if o.ok]
    assert served
    assert len(served) < 200
    assert report["spent_usd"] <= limit
    assert report["reserved_usd"] == 0
    assert world.calls[ZAI] == len(served)
    refused = [o for o in outcomes if not o.ok]
    assert {o.code for o in refused} == {"budget_exceeded"}
    assert refused[0].trace == ("zai/glm-4.7:over_budget",)


@pytest.mark.redis
async def test_three_replicas_on_redis_share_the_breaker_of_a_dead_primary(
    request: pytest.FixtureRequest,
) -> None:
    """The issue's replica case: 30 concurrent requests over three gateways sharing Redis."""
    url: str = request.getfixturevalue("redis_url")
    model = f"claude-opus-4-5-{uuid.uuid4().hex[:8]}"  # a breaker key no other run shares
    world = World(
        {ANTHROPIC: anthropic_error(503, "api_error"), GEMINI: gemini_ok},
        lane(f"anthropic/{model}", "gemini/gemini-2.5-flash"),
        state_url=url,
    )
    replicas = [world.gateway() for _ in range(3)]
    try:
        first = await asyncio.gather(*(replicas[i % 3].run(ask(), WORK) for i in range(30)))
        first_wave = world.calls[ANTHROPIC]
        later = await asyncio.gather(*(replicas[i % 3].run(ask(), WORK) for i in range(30)))
        states = await replicas[0].breaker_states()
    finally:
        for gw in replicas:
            await gw.aclose()
        await forget_breaker(url, f"anthropic/{model}")

    assert all(o.ok for o in first + later)
    assert 3 <= first_wave <= 30  # at most one call per request in flight, no retries
    assert world.calls[ANTHROPIC] == first_wave  # then none, on any replica
    assert states[f"anthropic/{model}"] == "open"
    assert later[0].trace[0] == f"anthropic/{model}:circuit_open"


async def forget_breaker(url: str, key: str) -> None:
    """Drop the test's breaker record from Redis (the engine's default key prefix)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await client.delete(f"laneway:breaker:{key}")
        await client.srem("laneway:breakers", key)
    finally:
        await client.aclose()
