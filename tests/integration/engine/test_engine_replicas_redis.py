"""Two Gateways (replicas) sharing `state: {url: redis://…}`: one job budget, one breaker.

Keys are made unique per run (a random job id and model name) so parallel runs
never collide; the test deletes what it wrote.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.providers.fake import FakeAdapter
from laneway.types import CompletionRequest, Message, TaskContext, Usage

pytestmark = pytest.mark.redis

REQUEST = CompletionRequest(messages=(Message("user", "hello"),), max_tokens=100)
ESTIMATE_USD = (3 * 1.0 + 100 * 10.0) / 1_000_000  # 3 input tokens, 100 output at $1/$10 per M


def replica_config(redis_url: str, model: str, *fallback: str) -> dict[str, Any]:
    return {
        "providers": {
            "f": {"kind": "fake", "models": {model: {"price": {"input": 1.0, "output": 10.0}}}}
        },
        "lanes": {
            "work": {
                "primary": f"f/{model}",
                "fallback": list(fallback),
                "budget": {"usd_per_job": 0.05},
            }
        },
        "retry": {"unavailable": {"retries": 0}},
        "breaker": {"failure_threshold": 3, "open_s": 60},
        "state": {"url": redis_url},
        "audit": {"enabled": False},
    }


def script(gw: Gateway) -> FakeAdapter:
    adapter = gw.adapter("f")
    assert isinstance(adapter, FakeAdapter)
    return adapter


@pytest.fixture
async def replicas(
    redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Gateway, Gateway, str]]:
    tag = uuid.uuid4().hex[:12]
    model = f"m-{tag}"
    clock = FakeClock()
    cfg = replica_config(redis_url, model, *request.param)
    first = Gateway.from_config(cfg, env={}, clock=clock)
    second = Gateway.from_config(cfg, env={}, clock=clock)
    yield first, second, tag
    await first.aclose()
    await second.aclose()
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{tag}*")]
        if keys:
            await client.delete(*keys)
        await client.srem("laneway:breakers", f"f/m-{tag}")
        await client.srem("laneway:budgets", f"job:job-{tag}")
    finally:
        await client.aclose()


@pytest.mark.parametrize("replicas", [()], indirect=True)
async def test_200_requests_over_two_replicas_never_pass_the_job_budget(
    replicas: tuple[Gateway, Gateway, str],
) -> None:
    first, second, tag = replicas
    model = f"m-{tag}"
    for gw in (first, second):
        for _ in range(100):
            script(gw).enqueue(model, text="ok", usage=Usage(3, 60), delay_s=0.5)
    ctx = TaskContext(lane="work", job_id=f"job-{tag}")

    outcomes = await asyncio.gather(
        *(gw.run(REQUEST, ctx) for _ in range(100) for gw in (first, second))
    )

    served = sum(o.ok for o in outcomes)
    calls = len(script(first).calls) + len(script(second).calls)
    assert calls == served  # a refused request never reached a provider
    assert served >= int(0.05 // ESTIMATE_USD)  # at least what fits all at once
    assert sum(o.code == "budget_exceeded" for o in outcomes) == 200 - served
    report = (await first.budget_report())[f"job:job-{tag}"]
    assert report["reserved_usd"] == 0
    assert report["spent_usd"] == pytest.approx(served * (3 + 600) / 1_000_000)
    assert report["spent_usd"] <= 0.05


@pytest.mark.parametrize("replicas", [("f/spare",)], indirect=True)
async def test_a_breaker_tripped_on_one_replica_is_open_on_the_other(
    replicas: tuple[Gateway, Gateway, str],
) -> None:
    first, second, tag = replicas
    model = f"m-{tag}"
    for _ in range(3):
        script(first).enqueue(model, error_code="unavailable")
        await first.run(REQUEST, TaskContext(lane="work"))

    done = await second.complete(REQUEST, TaskContext(lane="work"))

    assert done.trace == (f"f/{model}:circuit_open", "f/spare:success")
    assert script(second).calls[0][0] == "spare"
