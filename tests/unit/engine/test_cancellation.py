"""Cancelling the caller's task cancels the in-flight provider call and frees what it held.

The slow provider is a `local` model whose function waits until cancelled (so
the call is truly in flight), registered through `laneway.providers.local.register`
and removed after each test; the HTTP case uses an async `httpx.MockTransport`
handler that never answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from engine_scenario import KEYS, REAL_PROVIDERS, ask, config, gateway

from laneway.clock import FakeClock
from laneway.errors import ErrorCode, ProviderError
from laneway.events import RequestFinished
from laneway.http import HttpxTransport
from laneway.providers import local
from laneway.types import CompletionRequest, StreamOpened, TaskContext

SLOW = "engine-test-slow"
CTX = TaskContext(lane="work", job_id="job-c")


class SlowModel:
    """Fails with `unavailable` while `failures` lasts, then waits until cancelled."""

    def __init__(self) -> None:
        self.failures = 0
        self.started = asyncio.Event()
        self.cancelled = 0
        self.answer: str | None = None

    async def __call__(self, request: CompletionRequest) -> str:
        if self.failures:
            self.failures -= 1
            raise ProviderError("down", provider="local", model=SLOW, code=ErrorCode.UNAVAILABLE)
        if self.answer is not None:
            return self.answer
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "unreachable"


@pytest.fixture
def slow() -> Iterator[SlowModel]:
    model = SlowModel()
    local.register(SLOW, model)
    yield model
    local.default_registry.unregister(SLOW)


def slow_config() -> dict[str, Any]:
    return config(
        {"work": {"primary": f"local/{SLOW}", "budget": {"usd_per_job": 1.0}}},
        providers={
            "local": {
                "kind": "local",
                "models": {SLOW: {"price": {"input": 1.0, "output": 1.0}}},
            }
        },
        breaker={"failure_threshold": 3, "open_s": 60},
        retry={"unavailable": {"retries": 0}},
    )


async def cancel_in_flight(task: asyncio.Task[Any], started: asyncio.Event) -> None:
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelling_the_caller_cancels_the_call_and_refunds(slow: SlowModel) -> None:
    gw = gateway(slow_config())
    finished: list[RequestFinished] = []
    gw.subscribe(lambda e: finished.append(e) if isinstance(e, RequestFinished) else None)
    task = asyncio.ensure_future(gw.complete(ask(), CTX))
    await asyncio.wait_for(slow.started.wait(), timeout=5)
    held = (await gw.budget_report())["job:job-c"]
    assert held["reserved_usd"] > 0

    await cancel_in_flight(task, slow.started)

    assert slow.cancelled == 1
    report = (await gw.budget_report())["job:job-c"]
    assert (report["reserved_usd"], report["reserved_tokens"], report["spent_usd"]) == (0, 0, 0)
    assert [e.status for e in finished] == ["interrupted"]


async def test_a_cancelled_half_open_probe_frees_the_probe_slot(slow: SlowModel) -> None:
    clock = FakeClock()
    gw = gateway(slow_config(), clock=clock)
    slow.failures = 3
    for _ in range(3):
        await gw.run(ask(), CTX)
    assert (await gw.breaker_states())[f"local/{SLOW}"] == "open"
    clock.advance(60)

    task = asyncio.ensure_future(gw.complete(ask(), CTX))  # admitted as the probe
    await cancel_in_flight(task, slow.started)

    slow.answer = "probe ok"
    done = await gw.complete(ask(), CTX)  # no 60 s wait for a lost probe
    assert done.trace == (f"local/{SLOW}:success",)
    assert (await gw.breaker_states())[f"local/{SLOW}"] == "closed"


async def test_leaving_a_stream_early_refunds_its_reservation(slow: SlowModel) -> None:
    slow.answer = "a long streamed answer"
    gw = gateway(slow_config())
    stream = gw.stream(ask(), CTX)
    first = await anext(aiter(stream))
    assert isinstance(first, StreamOpened)
    await stream.aclose()  # type: ignore[attr-defined]

    report = (await gw.budget_report())["job:job-c"]
    assert (report["reserved_usd"], report["spent_usd"]) == (0, 0)


async def test_cancelling_cancels_the_http_request_in_flight() -> None:
    arrived = asyncio.Event()
    cancelled: list[str] = []

    async def never_answers(request: httpx.Request) -> httpx.Response:
        arrived.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(request.url.host)
            raise
        raise AssertionError("unreachable")

    transport = HttpxTransport(transport=httpx.MockTransport(never_answers))
    cfg = config({"work": {"primary": "zai/glm-4.7"}}, providers=REAL_PROVIDERS)
    async with gateway(cfg, env=KEYS, transport=transport) as gw:
        task = asyncio.ensure_future(gw.complete(ask(), CTX))
        await cancel_in_flight(task, arrived)
    assert cancelled == ["api.z.ai"]


async def test_cancelling_a_stream_waiting_for_its_first_delta_refunds(slow: SlowModel) -> None:
    gw = gateway(slow_config())

    async def consume() -> list[object]:
        return [event async for event in gw.stream(ask(), CTX)]

    task = asyncio.ensure_future(consume())
    await cancel_in_flight(task, slow.started)

    assert slow.cancelled == 1
    report = (await gw.budget_report())["job:job-c"]
    assert (report["reserved_usd"], report["spent_usd"]) == (0, 0)
