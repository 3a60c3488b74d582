"""`policies:` through the Gateway: denied candidates are never called, whatever routed them.

Two scripted fake providers stand for "our own servers" (`local`) and a
cloud provider (`cloud`); their `calls` lists are the proof of which models
laneway actually called.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.clock import FakeClock
from laneway.errors import PolicyDeniedError, RoutingExhaustedError
from laneway.events import CandidateSkipped, DecisionMade, PolicyApplied, RoutingCall
from laneway.policies import allow, deny, replace
from laneway.types import Complexity, ModelInfo, ModelRef, StreamDone, TaskContext

PROVIDERS: dict[str, Any] = {
    "local": {"kind": "fake", "models": {"small": {"price": {"input": 0.0, "output": 0.0}}}},
    "cloud": {
        "kind": "fake",
        "models": {
            "cheap": {"price": {"input": 0.5, "output": 2.0}},
            "opus": {"price": {"input": 15.0, "output": 75.0}},
        },
    },
}
LANES: dict[str, Any] = {
    "coding": {"primary": "local/small", "fallback": ["cloud/opus", "cloud/cheap"]},
    "review": {"primary": "cloud/opus", "fallback": ["cloud/cheap"]},
    "planning": {"primary": "cloud/opus"},
}
PRIVATE = {
    "name": "private-stays-local",
    "when": {"tags": ["private"]},
    "allow_providers": ["local"],
}


def policy_config(*policies: dict[str, Any], lanes: dict[str, Any] | None = None) -> dict[str, Any]:
    return config(
        lanes or LANES,
        providers=PROVIDERS,
        policies=list(policies),
        retry={"unavailable": {"retries": 0}},
    )


def called(gw: Any) -> list[str]:
    return [f"{p}/{model}" for p in ("local", "cloud") for model, _ in fake(gw, p).calls]


async def test_a_private_task_stays_local_even_when_the_local_model_fails() -> None:
    gw = gateway(policy_config(PRIVATE))
    fake(gw, "local").enqueue("small", error_code="unavailable", status=503)
    with pytest.raises(RoutingExhaustedError) as info:
        await gw.complete(ask(), TaskContext(lane="coding", tags=frozenset({"private"})))
    assert called(gw) == ["local/small"]
    assert info.value.trace == (
        "cloud/opus:policy_denied:private-stays-local",
        "cloud/cheap:policy_denied:private-stays-local",
        "local/small:unavailable",
    )
    # the same lane without the tag falls back to the cloud as configured
    fake(gw, "local").enqueue("small", error_code="unavailable", status=503)
    done = await gw.complete(ask(), TaskContext(lane="coding"))
    assert done.model_ref == ModelRef("cloud", "opus")


async def test_a_price_cap_skips_the_expensive_fallback() -> None:
    cap = {
        "name": "review-price-cap",
        "when": {"lane": "review"},
        "max_price_usd_per_mtok": {"output": 15},
    }
    gw = gateway(policy_config(cap))
    done = await gw.complete(ask(), TaskContext(lane="review"))
    assert done.model_ref == ModelRef("cloud", "cheap")
    assert called(gw) == ["cloud/cheap"]
    assert done.trace[0] == "cloud/opus:policy_denied:review-price-cap"
    assert done.decision is not None
    assert done.decision.model == ModelRef("cloud", "cheap")
    assert done.decision.reasoning.endswith(
        "; policies: review-price-cap denies cloud/opus: output price $75/Mtok is over the $15 cap"
    )


async def test_budget_escalation_blocks_before_any_call() -> None:
    strict = {"name": "strict-budgets", "on_budget_miss": "block"}
    gw = gateway(policy_config(strict))
    events = Events()
    gw.subscribe(events)
    # the caller says what is left; no lane budget caps the call itself
    ctx = TaskContext(lane="review", budget_remaining_usd=1e-6)
    with pytest.raises(PolicyDeniedError) as info:
        await gw.complete(ask(), ctx)
    assert called(gw) == []
    assert info.value.policies == ("strict-budgets",)
    assert info.value.code.value == "policy_denied"
    # budget-aware selection put the cheapest first; neither fits, so neither is called
    assert info.value.trace == (
        "cloud/cheap:policy_denied:strict-budgets",
        "cloud/opus:policy_denied:strict-budgets",
    )
    assert "on_budget_miss: block" in str(info.value)
    assert [e.evaluation.candidate for e in events.of(PolicyApplied)] == [
        ModelRef("cloud", "cheap"),
        ModelRef("cloud", "opus"),
    ]
    # without the policy the cheapest is taken, as before (advisory)
    advisory = gateway(policy_config())
    assert (await advisory.complete(ask(), ctx)).model_ref.model == "cheap"
    # nor does it block a request that fits
    roomy = TaskContext(lane="review", budget_remaining_usd=1.0)
    assert (await gw.complete(ask(), roomy)).model_ref.model == "opus"


async def test_run_answers_a_denial_degraded_with_its_code() -> None:
    gw = gateway(policy_config({"name": "no-cloud", "deny_providers": ["cloud"]}))
    outcome = await gw.run(ask(), TaskContext(lane="review"))
    assert (outcome.status, outcome.code) == ("degraded", "policy_denied")
    assert "no-cloud" in (outcome.error or "")
    assert called(gw) == []


async def test_a_pinned_model_is_judged_like_any_decision() -> None:
    opus_for_planning = {
        "name": "opus-for-planning-only",
        "when": {"lane_not": ["planning"]},
        "deny_models": ["cloud/opus*"],
    }
    gw = gateway(policy_config(opus_for_planning))
    pinned = TaskContext(lane="coding", model=ModelRef("cloud", "opus"))
    with pytest.raises(PolicyDeniedError) as info:
        await gw.complete(ask(), pinned)
    assert "matches a denied model" in str(info.value)
    done = await gw.complete(ask(), TaskContext(lane="planning", model=ModelRef("cloud", "opus")))
    assert done.model_ref == ModelRef("cloud", "opus")
    assert called(gw) == ["cloud/opus"]


async def test_conditions_select_the_policy_by_phase_complexity_job_and_key() -> None:
    rule = {
        "name": "nightly-hard",
        "when": {"phase": "plan", "complexity": "high", "job": "nightly-*", "key": ["batch"]},
        "deny_providers": ["local"],
    }
    gw = gateway(policy_config(rule))
    base = TaskContext(lane="coding", phase="plan", complexity=Complexity.HIGH, job_id="nightly-7")
    hit = await gw.complete(ask(), TaskContext(**{**_fields(base), "client_key": "batch"}))
    assert hit.model_ref == ModelRef("cloud", "opus")
    miss = await gw.complete(ask(), TaskContext(**{**_fields(base), "client_key": "web"}))
    assert miss.model_ref == ModelRef("local", "small")


def _fields(ctx: TaskContext) -> dict[str, Any]:
    return {name: getattr(ctx, name) for name in ctx.__slots__}


# -- hooks ----------------------------------------------------------------------------

HOOK_CALLS: list[str] = []


def raising_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    HOOK_CALLS.append(str(candidate.ref))
    if candidate.ref.provider == "cloud":
        raise RuntimeError("the policy service said: secret-token-123")
    return allow()


def replacing_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    if candidate.ref == ModelRef("cloud", "opus"):
        return replace("cloud/cheap", "opus is reserved this week")
    return None


async def async_deny_local(ctx: TaskContext, candidate: ModelInfo) -> object:
    return deny("local is down for maintenance") if candidate.ref.provider == "local" else allow()


SLOW_CLOCK = FakeClock()


def slow_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    SLOW_CLOCK.advance(2.0)  # the hook took 2 s on the gateway's clock
    return allow()


def loop_replace(ctx: TaskContext, candidate: ModelInfo) -> object:
    target = "cloud/cheap" if candidate.ref.model != "cheap" else "cloud/opus"
    return replace(target, "ping-pong")


def nonsense_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    return "yes please"


def hook(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "hook": f"{__name__}:{name}", **extra}


async def test_a_hook_that_raises_denies_and_is_recorded_without_its_message() -> None:
    HOOK_CALLS.clear()
    gw = gateway(policy_config(hook("raising_hook")))
    events = Events()
    gw.subscribe(events)
    done = await gw.complete(ask(), TaskContext(lane="coding"))
    assert done.model_ref == ModelRef("local", "small")
    assert HOOK_CALLS == ["local/small", "cloud/opus", "cloud/cheap"]
    applied = [e.evaluation for e in events.of(PolicyApplied)]
    assert [(a.verdict, a.reason) for a in applied] == [
        ("deny", f"hook {__name__}:raising_hook raised RuntimeError"),
        ("deny", f"hook {__name__}:raising_hook raised RuntimeError"),
    ]
    assert "secret-token-123" not in repr(events.seen)
    with pytest.raises(PolicyDeniedError):
        await gw.complete(ask(), TaskContext(lane="review"))
    assert called(gw) == ["local/small"]


async def test_a_hook_that_replaces_puts_the_replacement_in_place() -> None:
    gw = gateway(policy_config(hook("replacing_hook")))
    events = Events()
    gw.subscribe(events)
    done = await gw.complete(ask(), TaskContext(lane="planning"))
    assert done.model_ref == ModelRef("cloud", "cheap")
    assert called(gw) == ["cloud/cheap"]
    assert done.trace == ("cloud/opus:policy_replaced:replacing_hook", "cloud/cheap:success")
    (change,) = (e.evaluation for e in events.of(PolicyApplied))
    assert (change.verdict, change.replacement) == ("replace", ModelRef("cloud", "cheap"))
    (made,) = events.of(DecisionMade)
    assert made.decision.model == ModelRef("cloud", "cheap")
    assert made.decision.reasoning.endswith(
        "; policies: replacing_hook replaces cloud/opus with cloud/cheap: "
        "opus is reserved this week"
    )


async def test_a_replacement_goes_through_every_policy_again() -> None:
    no_cheap = {"name": "no-cheap", "deny_models": ["cloud/cheap"]}
    gw = gateway(policy_config(hook("replacing_hook"), no_cheap))
    with pytest.raises(PolicyDeniedError) as info:
        await gw.complete(ask(), TaskContext(lane="planning"))
    assert info.value.trace == (
        "cloud/opus:policy_replaced:replacing_hook",
        "cloud/cheap:policy_denied:no-cheap",
    )
    assert called(gw) == []


async def test_a_replacement_cannot_be_replaced_again() -> None:
    gw = gateway(policy_config(hook("loop_replace")))
    with pytest.raises(PolicyDeniedError) as info:
        await gw.complete(ask(), TaskContext(lane="planning"))
    assert "may not be replaced again" in str(info.value)


async def test_an_async_hook_is_awaited() -> None:
    gw = gateway(policy_config(hook("async_deny_local")))
    done = await gw.complete(ask(), TaskContext(lane="coding"))
    assert done.model_ref == ModelRef("cloud", "opus")
    assert done.trace[0] == "local/small:policy_denied:async_deny_local"


async def test_a_hook_over_its_time_limit_denies() -> None:
    gw = gateway(policy_config(hook("slow_hook", hook_timeout_s=1.0)), clock=SLOW_CLOCK)
    with pytest.raises(PolicyDeniedError) as info:
        await gw.complete(ask(), TaskContext(lane="planning"))
    assert "took 2s, over its 1s limit" in str(info.value)
    assert called(gw) == []


async def test_a_hook_answering_nonsense_denies() -> None:
    gw = gateway(policy_config(hook("nonsense_hook")))
    outcome = await gw.run(ask(), TaskContext(lane="planning"))
    assert outcome.code == "policy_denied"
    assert "returned a str" in (outcome.error or "")


async def test_streaming_obeys_the_same_policies() -> None:
    gw = gateway(policy_config(PRIVATE))
    fake(gw, "local").enqueue("small", error_code="unavailable", status=503)
    events = Events()
    gw.subscribe(events)
    ctx = TaskContext(lane="coding", tags=frozenset({"private"}))
    with pytest.raises(RoutingExhaustedError):
        await _drain(gw.stream(ask(), ctx))
    assert called(gw) == ["local/small"]
    skipped = [e.reason for e in events.of(CandidateSkipped)]
    assert skipped == ["policy_denied:private-stays-local"] * 2


async def test_the_guard_lane_obeys_policies_too() -> None:
    lanes = {
        "coding": {"primary": "local/small", "guard": {"lane": "safety"}},
        "safety": {"primary": "cloud/cheap"},
    }
    gw = gateway(policy_config(PRIVATE, lanes=lanes))
    with pytest.raises(PolicyDeniedError):
        await gw.complete(ask(), TaskContext(lane="coding", tags=frozenset({"private"})))
    assert called(gw) == []


async def _drain(stream: AsyncIterator[object]) -> None:
    async for event in stream:
        assert not isinstance(event, StreamDone)


async def test_a_private_task_is_not_shown_to_a_cloud_routing_model() -> None:
    """llm_enhanced sends the task's description to its routing model: policies cover it."""
    providers = {**PROVIDERS, "router": {"kind": "fake"}}
    cfg = config(
        LANES,
        providers=providers,
        policies=[PRIVATE],
        routing={"method": "llm_enhanced", "llm_enhanced": {"routing_model": "router/r"}},
    )
    gw = gateway(cfg)
    events = Events()
    gw.subscribe(events)
    ctx = TaskContext(lane="coding", tags=frozenset({"private"}), description="our secret plan")
    done = await gw.complete(ask(), ctx)
    assert fake(gw, "router").calls == []
    assert done.model_ref == ModelRef("local", "small")
    assert done.decision is not None
    assert done.decision.method == "static"
    (call,) = events.of(RoutingCall)
    assert (call.status, call.reason) == (
        "skipped",
        "policy_denied:private-stays-local: provider 'router' is not allowed (allowed: local)",
    )
    # untagged, the routing model is asked as configured
    router_reply = '{"model": "cloud/cheap", "reasoning": "cheap will do", "estimated_tokens": 50}'
    fake(gw, "router").enqueue("r", text=router_reply)
    done = await gw.complete(ask(), TaskContext(lane="coding"))
    assert len(fake(gw, "router").calls) == 1
    assert done.model_ref == ModelRef("cloud", "cheap")
