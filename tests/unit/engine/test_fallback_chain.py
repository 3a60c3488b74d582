"""The attempt loop over a chain of scripted models: fallback, exhaustion, degraded mode."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.clock import FakeClock, next_pass
from laneway.errors import ErrorCode, ProviderError, RoutingExhaustedError
from laneway.events import (
    AttemptFinished,
    CandidateSkipped,
    DecisionMade,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
)
from laneway.types import CompletionRequest, ModelRef, TaskContext, Tool

A, B, C = ModelRef("f", "a"), ModelRef("f", "b"), ModelRef("f", "c")
NO_RETRY = {"unavailable": {"retries": 0}, "timeout": {"retries": 0}}


def chain(**lane: Any) -> dict[str, Any]:
    spec = {
        "primary": "f/a",
        "fallback": ["f/b", "f/c"],
        "degraded": {"message": "The assistant is busy; try again shortly."},
        **lane,
    }
    return config({"work": spec}, retry=NO_RETRY)


async def test_a_and_b_fail_then_c_answers_with_elapsed_times() -> None:
    clock = FakeClock()
    gw = gateway(chain(), clock=clock)
    events = Events()
    gw.subscribe(events)
    script = fake(gw)
    script.enqueue("a", error_code="unavailable", status=503, delay_s=0.25)
    script.enqueue("b", error_code="network", delay_s=0.5)
    script.enqueue("c", text="c here", delay_s=0.125)

    done = await gw.complete(ask(), TaskContext(lane="work"))
    await next_pass()  # the finish event follows the answer

    assert (done.model_ref, done.content) == (C, "c here")
    assert done.trace == ("f/a:unavailable", "f/b:network", "f/c:success")
    assert [(a.model, a.code, a.attempt, a.elapsed_ms) for a in done.attempts] == [
        (A, "unavailable", 1, 250.0),
        (B, "network", 1, 500.0),
        (C, "success", 1, 125.0),
    ]
    assert done.latency_ms == 125.0
    assert done.decision is not None
    assert done.decision.candidates == (A, B, C)
    assert "work" in done.decision.reasoning
    assert events.names() == [
        "RequestStarted",
        "DecisionMade",
        "AttemptFinished",
        "AttemptFinished",
        "AttemptFinished",
        "RequestFinished",
    ]
    [finished] = events.of(RequestFinished)
    assert finished.status == "success"
    assert finished.trace == done.trace
    assert finished.duration_ms == pytest.approx(875.0)
    assert {e.request_id for e in events.seen if hasattr(e, "request_id")} == {done.request_id}


async def test_all_three_failing_raises_exhausted_listing_each() -> None:
    gw = gateway(chain())
    script = fake(gw)
    script.enqueue("a", error_code="unavailable", delay_s=1)
    script.enqueue("b", error_code="timeout", delay_s=2)
    script.enqueue("c", error_code="content_filter", delay_s=3)

    with pytest.raises(RoutingExhaustedError) as caught:
        await gw.complete(ask(), TaskContext(lane="work", request_id="req-1"))

    error = caught.value
    assert error.codes == ("unavailable", "timeout", "content_filter")
    assert [(a.model, a.elapsed_ms) for a in error.attempts] == [
        (A, 1000.0),
        (B, 2000.0),
        (C, 3000.0),
    ]
    assert [e.code for e in error.errors] == [
        ErrorCode.UNAVAILABLE,
        ErrorCode.TIMEOUT,
        ErrorCode.CONTENT_FILTER,
    ]
    assert error.trace == ("f/a:unavailable", "f/b:timeout", "f/c:content_filter")
    assert error.decision is not None
    assert error.decision.model == A
    assert error.request_id == "req-1"
    assert error.deadline_exhausted is False
    text = str(error)
    for name in ("f/a: unavailable", "f/b: timeout", "f/c: content_filter"):
        assert name in text


async def test_run_returns_the_lanes_degraded_message() -> None:
    gw = gateway(chain())
    events = Events()
    gw.subscribe(events)
    for model in "abc":
        fake(gw).enqueue(model, error_code="unavailable")

    outcome = await gw.run(ask(), TaskContext(lane="work"))

    assert outcome.status == "degraded"
    assert not outcome.ok
    assert outcome.content == "The assistant is busy; try again shortly."
    assert outcome.code == "unavailable"
    assert outcome.completion is None
    assert [a.model for a in outcome.attempts] == [A, B, C]
    assert outcome.trace == ("f/a:unavailable", "f/b:unavailable", "f/c:unavailable")
    assert [e.model for e in outcome.errors] == ["a", "b", "c"]
    assert outcome.request_id
    [finished] = events.of(RequestFinished)
    assert (finished.status, finished.request_id) == ("degraded", outcome.request_id)


async def test_run_returns_ok_with_the_completion() -> None:
    gw = gateway(chain())
    fake(gw).enqueue("a", text="fine")
    outcome = await gw.run(ask(), TaskContext(lane="work"))
    assert outcome.ok
    assert outcome.content == "fine"
    assert outcome.completion is not None
    assert outcome.trace == ("f/a:success",)


async def test_bad_request_stops_without_trying_the_fallbacks() -> None:
    gw = gateway(chain())
    fake(gw).enqueue("a", error_code="bad_request", status=400)
    with pytest.raises(ProviderError) as caught:
        await gw.complete(ask(), TaskContext(lane="work"))
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert caught.value.trace == ("f/a:bad_request",)
    assert [m for m, _ in fake(gw).calls] == ["a"]


async def test_auth_failure_skips_every_model_of_that_provider() -> None:
    cfg = config(
        {"work": {"primary": "f/a", "fallback": ["f/b", "g/c"]}},
        providers={"f": {"kind": "fake"}, "g": {"kind": "fake"}},
    )
    gw = gateway(cfg)
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", error_code="auth", status=401)
    fake(gw, "g").enqueue("c", text="g serves")

    done = await gw.complete(ask(), TaskContext(lane="work"))

    assert done.trace == ("f/a:auth", "f/b:auth", "g/c:success")
    assert [(a.model.model, a.skipped) for a in done.attempts] == [
        ("a", False),
        ("b", True),
        ("c", False),
    ]
    assert [m for m, _ in fake(gw).calls] == ["a"]
    assert [e.reason for e in events.of(CandidateSkipped)] == ["auth"]


async def test_the_lane_deadline_records_the_rest_as_deadline_exhausted() -> None:
    clock = FakeClock()
    gw = gateway(chain(timeouts={"attempt_s": 10, "total_s": 12}), clock=clock)
    fake(gw).enqueue("a", error_code="unavailable", delay_s=7)
    fake(gw).enqueue("b", text="too slow", delay_s=9)

    with pytest.raises(RoutingExhaustedError) as caught:
        await gw.complete(ask(), TaskContext(lane="work"))

    error = caught.value
    assert error.deadline_exhausted is True
    assert error.trace == ("f/a:unavailable", "f/b:timeout", "f/c:deadline_exhausted")
    assert error.attempts[-1].skipped
    assert clock.sleeps == [7, 5]  # b got only what was left of the 12 s
    assert "deadline" in str(error)


async def test_events_carry_the_retry_and_its_delay() -> None:
    gw = gateway(config({"work": {"primary": "f/a"}}))
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", error_code="rate_limit", status=429, retry_after_s=1.5)
    fake(gw).enqueue("a", text="ok")

    done = await gw.complete(ask(), TaskContext(lane="work"))

    assert done.trace == ("f/a:rate_limit", "f/a:retry", "f/a:success")
    [retry] = events.of(RetryScheduled)
    assert (retry.model, retry.code, retry.delay_s) == (A, "rate_limit", 1.5)
    assert isinstance(events.seen[0], RequestStarted)
    assert isinstance(events.seen[1], DecisionMade)
    assert [e.attempt.code for e in events.of(AttemptFinished)] == ["rate_limit", "success"]


async def test_same_failures_lead_to_the_same_next_model() -> None:
    traces = []
    for _ in range(2):
        gw = gateway(chain())
        fake(gw).enqueue("a", error_code="context_length")
        fake(gw).enqueue("b", error_code="network")
        traces.append((await gw.run(ask(), TaskContext(lane="work"))).trace)
    assert traces[0] == traces[1]


@pytest.mark.parametrize(
    ("lane", "request_"),
    [("no-such-lane", ask()), ("work", CompletionRequest(messages=()))],
    ids=["unknown-lane", "no-messages"],
)
async def test_run_gives_even_an_early_failure_a_request_id(
    lane: str, request_: CompletionRequest
) -> None:
    gw = gateway(chain())
    outcome = await gw.run(request_, TaskContext(lane=lane))
    assert outcome.status == "degraded"
    assert outcome.request_id
    assert len(outcome.request_id) == 32
    given = await gw.run(request_, TaskContext(lane=lane, request_id="mine"))
    assert given.request_id == "mine"


async def test_models_lacking_what_the_request_needs_are_skipped_before_any_call() -> None:
    """The router filters the lane's and the context's needs; the request's own (here
    tools) are checked by the engine's plan."""
    cfg = config(
        {"work": {"primary": "f/plain", "fallback": ["f/tooled"]}},
        providers={
            "f": {
                "kind": "fake",
                "models": {
                    "plain": {"capabilities": ["streaming"]},
                    "tooled": {"capabilities": ["streaming", "tools"]},
                },
            }
        },
    )
    gw = gateway(cfg)
    request = replace(ask(), tools=(Tool("search", "search the web"),))
    done = await gw.complete(request, TaskContext(lane="work"))
    assert done.trace == ("f/plain:missing_capability", "f/tooled:success")
    assert [m for m, _ in fake(gw).calls] == ["tooled"]


async def test_context_length_moves_on_to_a_model_with_a_larger_window() -> None:
    cfg = config(
        {"work": {"primary": "f/small", "fallback": ["f/same", "f/large"]}},
        providers={
            "f": {
                "kind": "fake",
                "models": {
                    "small": {"context": 8000},
                    "same": {"context": 8000},
                    "large": {"context": 200000},
                },
            }
        },
    )
    gw = gateway(cfg)
    fake(gw).enqueue("small", error_code="context_length", status=400)
    fake(gw).enqueue("large", text="fits")
    done = await gw.complete(ask(), TaskContext(lane="work"))
    assert done.trace == ("f/small:context_length", "f/same:context_too_small", "f/large:success")


async def test_route_decides_without_calling_anyone() -> None:
    gw = gateway(chain())
    decision = gw.route(TaskContext(lane="work"), ask())
    assert decision.candidates == (A, B, C)
    assert fake(gw).calls == []
