"""llm_enhanced routing, the pure half: the prompt, the cost cap, the reply's checks, the key.

No call is made here: replies are the text a routing model would send back.
The engine half (the call, the cache, the event) is in
tests/unit/engine/test_llm_enhanced_engine.py.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from laneway.config import Config, load_config
from laneway.routing import load_routing_provider
from laneway.routing.llm_enhanced import (
    REPLY_MAX_TOKENS,
    REPLY_SCHEMA,
    EnhancedRouter,
    RoutingPlan,
    cache_key,
)
from laneway.types import Capability, Complexity, ModelRef, TaskContext

STRONG = ModelRef("work", "strong")
MID = ModelRef("work", "mid")
CHEAP = ModelRef("work", "cheap")
ROUTER = ModelRef("router", "route-mini")


def config_data(**llm_enhanced: Any) -> dict[str, Any]:
    return {
        "providers": {
            "router": {
                "kind": "openai_compatible",
                "base_url": "https://router.test/v1",
                "models": {
                    "route-mini": {
                        "price": {"input": 0.15, "output": 0.6},
                        "capabilities": ["json_schema"],
                    },
                    "plain": {"price": {"input": 0.15, "output": 0.6}, "capabilities": []},
                    "unpriced": {"capabilities": ["json_schema"]},
                },
            },
            "work": {
                "kind": "fake",
                "models": {
                    "strong": {
                        "price": {"input": 5.0, "output": 25.0},
                        "context": 200_000,
                        "capabilities": ["tools", "json_schema", "streaming"],
                    },
                    "mid": {
                        "price": {"input": 1.0, "output": 5.0},
                        "context": 100_000,
                        "capabilities": ["tools", "streaming"],
                    },
                    "cheap": {
                        "price": {"input": 0.1, "output": 0.4},
                        "context": 8_000,
                        "capabilities": ["streaming"],
                    },
                },
            },
        },
        "lanes": {
            "coding": {"primary": "work/mid", "fallback": ["work/strong", "work/cheap"]},
            "agent": {
                "primary": "work/strong",
                "fallback": ["work/mid"],
                "requires": ["tools"],
                "budget": {"usd_per_task": 0.4},
            },
            "solo": {"primary": "work/strong"},
        },
        "routing": {
            "method": "llm_enhanced",
            "llm_enhanced": {"routing_model": "router/route-mini", **llm_enhanced},
        },
    }


def make_router(**llm_enhanced: Any) -> tuple[Config, EnhancedRouter]:
    config = load_config(config_data(**llm_enhanced), env={})
    return config, EnhancedRouter(config, load_routing_provider(config))


def reply(model: str, reasoning: str = "hard task", tokens: int = 800) -> str:
    return json.dumps({"model": model, "reasoning": reasoning, "estimated_tokens": tokens})


CTX = TaskContext(
    lane="coding", phase="implement", complexity=Complexity.HIGH, description="write a parser"
)


def plan_for(ctx: TaskContext = CTX, **llm_enhanced: Any) -> tuple[EnhancedRouter, RoutingPlan]:
    _, router = make_router(**llm_enhanced)
    return router, router.plan(ctx, input_tokens=2_000)


# -- the prompt ---------------------------------------------------------------------


def test_prompt_carries_task_and_candidates_with_price_window_and_capabilities() -> None:
    ctx = TaskContext(
        lane="agent",
        phase="plan",
        description="design the API",
        requires=frozenset({Capability.STREAMING}),
    )
    _, plan = plan_for(ctx)
    system, user = plan.request.messages
    assert system.role == "system"
    assert "JSON" in system.text
    sent = json.loads(user.text.split("\n", 1)[1])
    assert sent["task"] == {
        "lane": "agent",
        "phase": "plan",
        "complexity": None,
        "description": "design the API",
        "remaining_budget_usd": 0.4,
        "prompt_tokens_estimate": 2_000,
        "required_capabilities": ["streaming", "tools"],
    }
    assert [c["model"] for c in sent["candidates"]] == ["work/strong", "work/mid"]
    assert sent["candidates"][1] == {
        "model": "work/mid",
        "usd_per_million_input_tokens": 1.0,
        "usd_per_million_output_tokens": 5.0,
        "estimated_cost_usd": pytest.approx((2_000 * 1.0 + 1_000 * 5.0) / 1e6),
        "context_window": 100_000,
        "capabilities": ["streaming", "tools"],
    }


def test_prompt_asks_for_the_reply_schema_with_a_bounded_reply() -> None:
    _, plan = plan_for()
    fmt = plan.request.response_format
    assert fmt is not None
    assert (fmt.type, fmt.schema) == ("json_schema", REPLY_SCHEMA)
    assert plan.request.max_tokens == REPLY_MAX_TOKENS
    assert plan.request.temperature == 0.0


def test_routing_model_without_structured_output_gets_instructions_only() -> None:
    _, plan = plan_for(routing_model="router/plain")
    assert plan.request.response_format is None
    assert plan.skip_reason is None


# -- the cost cap -------------------------------------------------------------------


def test_estimate_uses_prompt_tokens_and_reply_cap_at_the_routing_price() -> None:
    _, plan = plan_for()
    # the ~4-chars-a-token estimate padded by 30%, plus 400 for structured output
    tokens_in = math.ceil(plan.request.estimated_input_tokens() * 1.3) + 400
    expected = (tokens_in * 0.15 + REPLY_MAX_TOKENS * 0.6) / 1e6
    assert plan.estimated_cost_usd == pytest.approx(expected)
    assert plan.skip_reason is None


def test_estimate_over_the_cap_skips_the_call() -> None:
    _, plan = plan_for(max_routing_cost_usd=0.0001)
    assert plan.skip_reason is not None
    assert plan.estimated_cost_usd is not None
    assert plan.skip_reason == (
        f"estimated routing cost ${plan.estimated_cost_usd:.6f} "
        "is over max_routing_cost_usd $0.000100"
    )


def test_unknown_routing_price_skips_the_call() -> None:
    _, plan = plan_for(routing_model="router/unpriced")
    assert plan.skip_reason is not None
    assert "price of routing model router/unpriced is unknown" in plan.skip_reason


def test_one_candidate_leaves_nothing_to_choose() -> None:
    _, plan = plan_for(TaskContext(lane="solo"))
    assert plan.skip_reason is not None
    assert "nothing to choose" in plan.skip_reason


# -- the reply ----------------------------------------------------------------------


def test_valid_reply_becomes_the_decision_with_static_order_chain() -> None:
    router, plan = plan_for()
    verdict = router.judge(plan, reply("work/cheap", "a small parser, cheap is enough", 500))
    decision = verdict.decision
    assert verdict.accepted
    assert decision.method == "llm_enhanced"
    assert decision.model == CHEAP
    assert decision.fallback_chain == (MID, STRONG)  # static order minus the chosen one
    assert decision.reasoning == (
        "routing model router/route-mini chose work/cheap: a small parser, cheap is enough"
    )
    assert decision.estimated_cost_usd == pytest.approx((2_000 * 0.1 + 500 * 0.4) / 1e6)


def test_bare_model_name_and_code_fence_are_tolerated() -> None:
    router, plan = plan_for()
    fenced = "```json\n" + reply("strong") + "\n```"
    verdict = router.judge(plan, fenced)
    assert verdict.accepted
    assert verdict.decision.model == STRONG


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the strong one, please", "the reply is not valid JSON"),
        ('{"model": "work/strong"}', "does not match the schema (the reply: 'reasoning'"),
        (
            '{"model": "work/strong", "reasoning": "x", "estimated_tokens": "many"}',
            "does not match the schema (estimated_tokens: 'many' is not of type 'integer')",
        ),
        (
            '{"model": "work/strong", "reasoning": "x", "estimated_tokens": 1, "extra": 1}',
            "Additional properties are not allowed",
        ),
        (reply("nonesuch"), "the reply's model 'nonesuch' does not name a provider/model"),
    ],
)
def test_unusable_reply_falls_back_to_static_with_the_reason(text: str, reason: str) -> None:
    router, plan = plan_for()
    verdict = router.judge(plan, text)
    assert not verdict.accepted
    assert reason in verdict.reason
    assert verdict.decision.model == plan.static.model == MID
    assert verdict.decision.method == "static"
    assert verdict.decision.reasoning == (
        f"{plan.static.reasoning}; llm_enhanced: {verdict.reason}, static routing decided"
    )


def test_model_outside_the_lane_is_ignored() -> None:
    router, plan = plan_for()
    verdict = router.judge(plan, reply("anthropic/claude-opus-4-5"))
    assert not verdict.accepted
    assert verdict.reason == (
        "anthropic/claude-opus-4-5 is not a candidate of the lane "
        "(candidates: work/mid, work/strong, work/cheap)"
    )
    assert verdict.decision.model == MID


def test_lane_model_lacking_a_required_capability_is_ignored() -> None:
    router, plan = plan_for(TaskContext(lane="coding", requires=frozenset({Capability.TOOLS})))
    assert plan.candidates == (MID, STRONG)  # work/cheap lacks tools: never offered
    verdict = router.judge(plan, reply("work/cheap"))
    assert not verdict.accepted
    assert verdict.reason == "work/cheap lacks tools, which the task requires"
    assert verdict.decision.model == MID
    assert verdict.reply is not None
    assert verdict.reply.model == CHEAP
    assert router.judge(plan, reply("work/strong")).accepted


def test_model_whose_window_is_smaller_than_the_prompt_is_ignored() -> None:
    _, router = make_router()
    plan = router.plan(CTX, input_tokens=50_000)
    verdict = router.judge(plan, reply("work/cheap"))
    assert verdict.reason == "work/cheap's context window (8000) is smaller than the prompt"


# -- the cache key ------------------------------------------------------------------


def test_cache_key_is_equal_for_the_same_task_and_budget_bucket() -> None:
    ctx = TaskContext(lane="coding", phase="p", complexity=Complexity.LOW, description="d")
    assert cache_key(ctx, 0.7, 0.5) == cache_key(ctx, 0.9, 0.5)
    assert cache_key(ctx, 0.7, 0.5) != cache_key(ctx, 1.1, 0.5)
    assert cache_key(ctx, None, 0.5) != cache_key(ctx, 0.1, 0.5)


@pytest.mark.parametrize(
    "other",
    [
        TaskContext(lane="agent", phase="p", complexity=Complexity.LOW, description="d"),
        TaskContext(lane="coding", phase="q", complexity=Complexity.LOW, description="d"),
        TaskContext(lane="coding", phase="p", complexity=Complexity.HIGH, description="d"),
        TaskContext(lane="coding", phase="p", complexity=Complexity.LOW, description="e"),
    ],
)
def test_cache_key_differs_by_lane_phase_complexity_and_description(other: TaskContext) -> None:
    ctx = TaskContext(lane="coding", phase="p", complexity=Complexity.LOW, description="d")
    assert cache_key(ctx, None, 0.5) != cache_key(other, None, 0.5)


def test_plan_key_uses_the_lanes_budget_when_the_context_has_none() -> None:
    _, router = make_router(budget_bucket_usd=0.25)
    plan = router.plan(TaskContext(lane="agent"))
    assert plan.cache_key == cache_key(TaskContext(lane="agent"), 0.4, 0.25)


def test_route_without_a_call_is_the_static_decision() -> None:
    config, router = make_router()
    assert router.route(CTX) == load_routing_provider(config).route(CTX)
