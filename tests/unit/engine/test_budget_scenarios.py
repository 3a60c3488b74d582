"""Budgets through the Gateway: reserve before the call, commit after, refund on failure.

The fake model has a declared price (USD per million tokens) and scripted usage,
so every estimate and every committed cost is exact.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.budgets.bound import input_bound
from laneway.clock import FakeClock
from laneway.errors import BudgetExceededError
from laneway.events import BudgetChanged
from laneway.types import CompletionRequest, Message, StreamDone, TaskContext, Usage

PRICED: dict[str, Any] = {
    "f": {"kind": "fake", "models": {"m": {"price": {"input": 1.0, "output": 10.0}}}}
}
# the worst case: "hello" is 5 UTF-8 bytes + 16 per message = 21 input tokens at most;
# max_tokens bounds the output at 100
REQUEST = CompletionRequest(messages=(Message("user", "hello"),), max_tokens=100)
INPUT_BOUND = 21
ESTIMATE_USD = (INPUT_BOUND * 1.0 + 100 * 10.0) / 1_000_000
ACTUAL = Usage(3, 60)
ACTUAL_USD = (3 * 1.0 + 60 * 10.0) / 1_000_000
JOB_LIMIT = 0.05


def budget_config(**budget: Any) -> dict[str, Any]:
    return config(
        {"work": {"primary": "f/m", "budget": {"usd_per_job": JOB_LIMIT, **budget}}},
        providers=PRICED,
        retry={"unavailable": {"retries": 0}},
    )


async def test_200_concurrent_requests_never_pass_the_job_budget() -> None:
    gw = gateway(budget_config())
    for index in range(200):
        if index % 10 == 3:
            fake(gw).enqueue("m", error_code="unavailable", delay_s=0.2)
        else:
            fake(gw).enqueue("m", text="ok", usage=ACTUAL, delay_s=0.5)
    ctx = TaskContext(lane="work", job_id="job-1")

    outcomes = await asyncio.gather(*(gw.run(REQUEST, ctx) for _ in range(200)))

    assert input_bound(REQUEST) == INPUT_BOUND
    admitted = int(JOB_LIMIT // ESTIMATE_USD)  # 48 worst cases fit in $0.05
    assert len(fake(gw).calls) == admitted  # the refused ones never reached the provider
    refused = [o for o in outcomes if o.code == "budget_exceeded"]
    assert len(refused) == 200 - admitted
    assert all(o.attempts[0].code == "over_budget" for o in refused)
    succeeded = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if o.code == "unavailable"]
    assert len(succeeded) + len(failed) == admitted
    report = (await gw.budget_report())["job:job-1"]
    assert report["reserved_usd"] == 0
    assert report["spent_usd"] == pytest.approx(len(succeeded) * ACTUAL_USD)
    assert report["spent_usd"] <= JOB_LIMIT
    assert report["spent_tokens"] == len(succeeded) * ACTUAL.total_tokens
    assert all(o.completion and o.completion.usage.cost_usd == ACTUAL_USD for o in succeeded)


async def test_budget_exceeded_names_the_job_limit_spent_and_estimate() -> None:
    gw = gateway(budget_config())
    ctx = TaskContext(lane="work", job_id="job-7")
    spent = 0.0
    for _ in range(48):
        fake(gw).enqueue("m", text="ok", usage=Usage(INPUT_BOUND, 100))
        await gw.complete(REQUEST, ctx)
        spent += ESTIMATE_USD
    calls = len(fake(gw).calls)

    with pytest.raises(BudgetExceededError) as caught:
        await gw.complete(REQUEST, ctx)

    error = caught.value
    assert len(fake(gw).calls) == calls  # refused before any provider call
    assert (error.scope, error.job_id, error.unit) == ("job", "job-7", "usd")
    assert error.limit == pytest.approx(JOB_LIMIT)
    assert error.spent == pytest.approx(spent)
    assert error.estimate == pytest.approx(ESTIMATE_USD)
    assert "job-7" in str(error)
    assert "usd_per_job" in str(error)
    assert error.trace == ("f/m:over_budget",)


async def test_a_failed_call_refunds_its_reservation() -> None:
    gw = gateway(budget_config())
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("m", error_code="unavailable", delay_s=1)

    outcome = await gw.run(REQUEST, TaskContext(lane="work", job_id="job-2"))

    assert outcome.code == "unavailable"
    changes = [(e.action, e.scope, e.amount_usd) for e in events.of(BudgetChanged)]
    assert changes == [
        ("reserve", "job:job-2", pytest.approx(ESTIMATE_USD)),
        ("refund", "job:job-2", pytest.approx(ESTIMATE_USD)),
    ]
    report = (await gw.budget_report())["job:job-2"]
    assert (report["reserved_usd"], report["spent_usd"]) == (0, 0)


async def test_a_quarantined_first_credential_still_reserves_and_commits() -> None:
    """The call made with the second profile is the candidate's first: it is reserved
    before and committed after, like any other."""
    profiles = [{"name": "a", "api_key_env": "KEY_A"}, {"name": "b", "api_key_env": "KEY_B"}]
    cfg = config(
        {"work": {"primary": "f/m", "budget": {"usd_per_job": JOB_LIMIT}}},
        providers={"f": {**PRICED["f"], "credentials": profiles}},
    )
    clock = FakeClock()
    gw = gateway(cfg, env={"KEY_A": "a", "KEY_B": "b"}, clock=clock)
    await gw.state_store.quarantines.apply("f[a]", "bar", clock.wall(), 3600.0)
    fake(gw).enqueue("m", text="ok", usage=ACTUAL)

    done = await gw.complete(REQUEST, TaskContext(lane="work", job_id="job-q"))

    assert done.trace == ("f[a]/m:auth_quarantined", "f[b]/m:success")
    report = (await gw.budget_report())["job:job-q"]
    assert (report["reserved_usd"], report["spent_usd"]) == (0, pytest.approx(ACTUAL_USD))


async def test_tokens_per_request_refuses_before_the_call() -> None:
    gw = gateway(budget_config(tokens_per_request=50))
    with pytest.raises(BudgetExceededError) as caught:
        await gw.complete(REQUEST, TaskContext(lane="work", job_id="job-3"))
    assert (caught.value.scope, caught.value.unit, caught.value.limit) == ("request", "tokens", 50)
    assert caught.value.estimate == INPUT_BOUND + 100
    assert fake(gw).calls == []


async def test_streams_settle_their_budget_and_forget_their_task_scope() -> None:
    cfg = config(
        {"work": {"primary": "f/m", "budget": {"usd_per_task": 0.01, "usd_per_job": 1.0}}},
        providers=PRICED,
    )
    gw = gateway(cfg)
    for _ in range(3):
        fake(gw).enqueue("m", stream_chunks=["a", "b"], usage=ACTUAL)
        events = [e async for e in gw.stream(REQUEST, TaskContext(lane="work", job_id="job-s"))]
        assert isinstance(events[-1], StreamDone)

    report = await gw.budget_report()
    assert list(report) == ["job:job-s"]  # no per-task scope left behind
    assert report["job:job-s"]["spent_usd"] == pytest.approx(3 * ACTUAL_USD)
    assert report["job:job-s"]["reserved_usd"] == 0


async def test_complete_forgets_its_task_scope_too() -> None:
    cfg = config(
        {"work": {"primary": "f/m", "budget": {"usd_per_task": 0.01}}},
        providers=PRICED,
    )
    gw = gateway(cfg)
    for _ in range(3):
        await gw.complete(REQUEST, TaskContext(lane="work"))
    assert await gw.budget_report() == {}


async def test_budget_aware_selection_uses_what_the_job_has_left() -> None:
    prices = {"dear": {"price": {"input": 100.0, "output": 100.0}}}
    prices["cheap"] = {"price": {"input": 0.1, "output": 0.1}}
    cfg = config(
        {"work": {"primary": "f/dear", "fallback": ["f/cheap"], "budget": {"usd_per_job": 0.25}}},
        providers={"f": {"kind": "fake", "models": prices}},
    )
    gw = gateway(cfg)
    ctx = TaskContext(lane="work", job_id="job-b")
    request = CompletionRequest(messages=(Message("user", "hello"),), max_tokens=1000)
    fake(gw).enqueue("dear", text="pricey", usage=Usage(1000, 1000))  # $0.20
    first = await gw.complete(request, ctx)  # worst case (21 + 1000) * $100/M fits $0.25
    assert first.model == "dear"
    assert first.usage.cost_usd == pytest.approx(0.2)

    second = await gw.complete(request, ctx)  # $0.05 left: dear's $0.1021 does not fit

    assert second.model == "cheap"
    assert second.decision is not None
    assert "budget downgrade: f/dear worst case $0.1021" in second.decision.reasoning
    assert "over the $0.0500 budget" in second.decision.reasoning
    assert second.trace == ("f/cheap:success",)
    assert [m for m, _ in fake(gw).calls] == ["dear", "cheap"]


async def test_a_lane_with_a_budget_sends_its_output_bound_when_the_client_sets_none() -> None:
    cfg = config(
        {"work": {"primary": "f/m", "budget": {"usd_per_job": 1.0}, "max_output_tokens": 300}},
        providers=PRICED,
    )
    gw = gateway(cfg)
    await gw.complete(ask(), TaskContext(lane="work", job_id="job-o"))
    assert fake(gw).calls[0][1].max_tokens == 300


async def test_clamp_output_lowers_max_tokens_to_what_is_left_and_says_so() -> None:
    # $0.0006 left fits 21 input tokens ($0.000021) and 57 output tokens ($0.00057)
    cfg = config(
        {"work": {"primary": "f/m", "budget": {"usd_per_job": 0.0006, "fit": "clamp_output"}}},
        providers=PRICED,
    )
    gw = gateway(cfg)
    fake(gw).enqueue("m", text="ok", usage=Usage(5, 40))

    done = await gw.complete(REQUEST, TaskContext(lane="work", job_id="job-c"))

    assert fake(gw).calls[0][1].max_tokens == 57
    assert done.trace == ("f/m:clamp_output(max_tokens=57)", "f/m:success")
    report = (await gw.budget_report())["job:job-c"]
    assert report["spent_usd"] == pytest.approx((5 * 1.0 + 40 * 10.0) / 1_000_000)


async def test_without_clamp_output_a_request_that_does_not_fit_is_refused() -> None:
    cfg = config({"work": {"primary": "f/m", "budget": {"usd_per_job": 0.0006}}}, providers=PRICED)
    gw = gateway(cfg)
    with pytest.raises(BudgetExceededError):
        await gw.complete(REQUEST, TaskContext(lane="work", job_id="job-r"))
    assert fake(gw).calls == []
