"""Property: whatever routed a request and whatever failed, no call reaches a denied model.

Random policies (drawn from declarative rules with random conditions and a
replacing hook), random contexts, random routing outcomes (static, pinned,
llm_enhanced with a random choice by a scripted routing model) and random
failures before success, through `complete` and `stream`. The oracle below
re-states each rule with `fnmatch` and plain sets, independently of the
compiled policies.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from typing import Any

from engine_scenario import fake, gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.errors import LanewayError, PolicyDeniedError
from laneway.policies import allow, replace
from laneway.routing.selection import ASSUMED_OUTPUT_TOKENS
from laneway.types import CompletionRequest, Complexity, ModelInfo, ModelRef, TaskContext

PRICES = {  # USD per million tokens (input, output), capabilities
    "local/a": (0.0, 0.0, ["tools", "streaming"]),
    "local/b": (0.0, 0.0, ["streaming"]),
    "cloud/x": (0.5, 2.0, ["tools", "vision", "streaming"]),
    "cloud/y": (3.0, 15.0, ["tools", "vision", "streaming"]),
    "cloud/opus-1": (15.0, 75.0, ["tools", "vision", "streaming"]),
}
MODELS = sorted(PRICES)
LANES = {
    "coding": {"primary": "local/a", "fallback": ["cloud/x", "cloud/opus-1", "local/b"]},
    "planning": {"primary": "cloud/opus-1", "fallback": ["cloud/y", "local/a"]},
    "review": {"primary": "cloud/y", "fallback": ["cloud/x"]},
}
TAGS = ["private", "pci", "fast"]
REQUEST = CompletionRequest.from_prompt("hello there")


def providers() -> dict[str, Any]:
    result: dict[str, Any] = {
        "router": {
            "kind": "fake",
            "models": {"r": {"price": {"input": 0, "output": 0}, "capabilities": ["json_schema"]}},
        }
    }
    for ref, (price_in, price_out, caps) in PRICES.items():
        provider, model = ref.split("/")
        entry = {"price": {"input": price_in, "output": price_out}, "capabilities": caps}
        result.setdefault(provider, {"kind": "fake", "models": {}})["models"][model] = entry
    return result


def swap_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    """Sends anything to do with `opus` to `cloud/x`; allows the rest."""
    if "opus" in candidate.ref.model:
        return replace("cloud/x", "opus is reserved")
    return allow()


whens = st.fixed_dictionaries(
    {},
    optional={
        "lane": st.lists(st.sampled_from(sorted(LANES)), min_size=1, max_size=2),
        "lane_not": st.lists(st.sampled_from(sorted(LANES)), min_size=1, max_size=1),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        "phase": st.lists(st.sampled_from(["plan", "code"]), min_size=1, max_size=1),
        "complexity": st.lists(st.sampled_from(["low", "high"]), min_size=1, max_size=1),
        "job": st.lists(st.sampled_from(["nightly-*", "job-1"]), min_size=1, max_size=1),
        "key": st.lists(st.sampled_from(["batch", "web"]), min_size=1, max_size=1),
    },
)
actions = st.one_of(
    st.fixed_dictionaries(
        {"allow_providers": st.lists(st.sampled_from(["local", "cloud"]), min_size=1, max_size=1)}
    ),
    st.fixed_dictionaries(
        {"deny_providers": st.lists(st.sampled_from(["local", "cloud"]), min_size=1, max_size=1)}
    ),
    st.fixed_dictionaries(
        {
            "deny_models": st.lists(
                st.sampled_from(["cloud/opus-*", "local/?", "*/x"]), min_size=1, max_size=2
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "allow_models": st.lists(
                st.sampled_from(["cloud/*", "local/a", "*/y"]), min_size=1, max_size=2
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "max_price_usd_per_mtok": st.fixed_dictionaries(
                {"output": st.sampled_from([1.0, 15.0, 50.0])}
            )
        }
    ),
    st.fixed_dictionaries({"requires": st.just(["vision"])}),
    st.just({"on_budget_miss": "block"}),
    st.just({"hook": f"{__name__}:swap_hook"}),
)
policy_lists = st.lists(st.tuples(whens, actions), max_size=4).map(
    lambda items: [{"name": f"p{i}", "when": w, **a} for i, (w, a) in enumerate(items)]
)
contexts = st.builds(
    lambda lane, tags, phase, complexity, job, key, budget, pinned: TaskContext(
        lane=lane,
        tags=frozenset(tags),
        phase=phase,
        complexity=complexity,
        job_id=job,
        client_key=key,
        budget_remaining_usd=budget,
        model=ModelRef.parse(pinned) if pinned else None,
    ),
    st.sampled_from(sorted(LANES)),
    st.lists(st.sampled_from(TAGS), max_size=2),
    st.none() | st.sampled_from(["plan", "code"]),
    st.none() | st.sampled_from([Complexity.LOW, Complexity.HIGH]),
    st.none() | st.sampled_from(["nightly-3", "job-1"]),
    st.none() | st.sampled_from(["batch", "web"]),
    st.none() | st.sampled_from([1e-6, 0.001, 1.0]),
    st.none() | st.sampled_from(MODELS),
)
failures = st.dictionaries(
    st.sampled_from(MODELS),
    st.lists(
        st.sampled_from(["unavailable", "rate_limit", "timeout", "invalid_response"]), max_size=3
    ),
)


def applies(when: dict[str, Any], ctx: TaskContext) -> bool:
    checks = [
        ("lane" not in when) or ctx.lane in when["lane"],
        ("lane_not" not in when) or ctx.lane not in when["lane_not"],
        ("tags" not in when) or bool(set(when["tags"]) & ctx.tags),
        ("phase" not in when) or ctx.phase in when["phase"],
        ("complexity" not in when)
        or (ctx.complexity is not None and ctx.complexity.value in when["complexity"]),
        ("job" not in when)
        or (
            ctx.job_id is not None and any(fnmatch.fnmatchcase(ctx.job_id, g) for g in when["job"])
        ),
        ("key" not in when) or ctx.client_key in when["key"],
    ]
    return all(checks)


def denied_by(policy: dict[str, Any], ctx: TaskContext, model: str) -> bool:
    if not applies(policy["when"], ctx):
        return False
    provider = model.split("/")[0]
    price_in, price_out, caps = PRICES[model]
    if "allow_providers" in policy and provider not in policy["allow_providers"]:
        return True
    if "deny_providers" in policy and provider in policy["deny_providers"]:
        return True
    if "deny_models" in policy and any(
        fnmatch.fnmatchcase(model, g) for g in policy["deny_models"]
    ):
        return True
    if "allow_models" in policy and not any(
        fnmatch.fnmatchcase(model, g) for g in policy["allow_models"]
    ):
        return True
    cap = policy.get("max_price_usd_per_mtok")
    if cap is not None and price_out > cap["output"]:
        return True
    if "requires" in policy and not set(policy["requires"]) <= set(caps):
        return True
    if policy.get("on_budget_miss") == "block" and ctx.budget_remaining_usd is not None:
        tokens_in = REQUEST.estimated_input_tokens()
        cost = (tokens_in * price_in + ASSUMED_OUTPUT_TOKENS * price_out) / 1_000_000
        return cost > ctx.budget_remaining_usd
    return False


def is_denied(policies: list[dict[str, Any]], ctx: TaskContext, model: str) -> bool:
    return any(denied_by(p, ctx, model) for p in policies)


def replaced(policies: list[dict[str, Any]], ctx: TaskContext, model: str) -> bool:
    """Would an applicable swap hook take this model's place (so it is never called)?"""
    return "opus" in model and any("hook" in p and applies(p["when"], ctx) for p in policies)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    policy_lists,
    contexts,
    failures,
    st.sampled_from(["static", "llm_enhanced"]),
    st.sampled_from(MODELS),
    st.booleans(),
)
def test_no_call_reaches_a_denied_candidate(
    policies: list[dict[str, Any]],
    ctx: TaskContext,
    failing: dict[str, list[str]],
    method: str,
    enhanced_choice: str,
    streaming: bool,
) -> None:
    routing: dict[str, Any] = {"method": method}
    if method == "llm_enhanced":
        routing["llm_enhanced"] = {"routing_model": "router/r"}
    cfg = {
        "providers": providers(),
        "lanes": LANES,
        "policies": policies,
        "routing": routing,
        "audit": {"enabled": False},
        "retry": {"rate_limit": {"retries": 1}, "unavailable": {"retries": 1}},
    }
    gw = gateway(cfg)
    reply = {"model": enhanced_choice, "reasoning": "random", "estimated_tokens": 100}
    fake(gw, "router").enqueue("r", text=json.dumps(reply))
    for model, codes in failing.items():
        provider, name = model.split("/")
        for code in codes:
            fake(gw, provider).enqueue(name, error_code=code, status=503)
    error: LanewayError | None = None
    try:
        asyncio.run(_request(gw, ctx, streaming))
    except LanewayError as exc:
        error = exc
    calls = [f"{p}/{m}" for p in ("local", "cloud") for m, _ in fake(gw, p).calls]
    for model in calls:
        assert not is_denied(policies, ctx, model), (model, policies, ctx)
        assert not replaced(policies, ctx, model), (model, policies, ctx)
    if isinstance(error, PolicyDeniedError):
        assert calls == []


async def _request(gw: Any, ctx: TaskContext, streaming: bool) -> None:
    try:
        if streaming:
            async for _ in gw.stream(REQUEST, ctx):
                pass
        else:
            await gw.complete(REQUEST, ctx)
    finally:
        await gw.aclose()
