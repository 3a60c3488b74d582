"""Scenarios over the real `anthropic` and `openai_compatible` (preset zai) adapters.

The upstream is an `httpx.MockTransport` handler speaking each provider's wire
format (sources in `engine_scenario`'s docstring): the Messages API `Message`
and its error shape with `retry-after` on 429 (anthropic-wire-format.md
"Rate-limit and retry headers"), and the Chat Completions response
(openai-openapi.yaml `POST /chat/completions` example).
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_scenario import (
    ANTHROPIC_HOST,
    KEYS,
    REAL_PROVIDERS,
    ZAI_HOST,
    Upstream,
    anthropic_error,
    anthropic_message,
    ask,
    config,
    gateway,
    openai_completion,
)

from laneway.clock import FakeClock
from laneway.errors import ErrorCode, ProviderError
from laneway.types import ModelRef, TaskContext

OPUS = ModelRef("anthropic", "claude-opus-4-5")
SONNET = ModelRef("anthropic", "claude-sonnet-4-5")
GLM = ModelRef("zai", "glm-4.7")


def two_lanes(**coding: Any) -> dict[str, Any]:
    return config(
        {
            "planning": {"primary": str(OPUS), "fallback": [str(SONNET)]},
            "coding": {"primary": str(GLM), **coding},
        },
        providers=REAL_PROVIDERS,
    )


async def test_planning_on_opus_and_coding_on_glm_in_one_gateway() -> None:
    upstream = Upstream()
    upstream.queue(ANTHROPIC_HOST, anthropic_message("1. design 2. build"))
    upstream.queue(ZAI_HOST, openai_completion("def f(): pass"))
    async with gateway(two_lanes(), env=KEYS, transport=upstream.transport()) as gw:
        plan = await gw.complete(ask("plan it"), TaskContext(lane="planning", phase="plan"))
        code = await gw.complete(ask("code it"), TaskContext(lane="coding", phase="code"))

    assert (plan.model_ref, plan.content) == (OPUS, "1. design 2. build")
    assert plan.trace == ("anthropic/claude-opus-4-5:success",)
    assert plan.decision is not None
    assert plan.decision.model == OPUS
    assert "planning" in plan.decision.reasoning
    assert (code.model_ref, code.content) == (GLM, "def f(): pass")
    assert code.trace == ("zai/glm-4.7:success",)
    assert code.decision is not None
    assert "coding" in code.decision.reasoning
    assert [a.code for a in code.attempts] == ["success"]
    # the real wire: Anthropic's Messages path, then Z.AI's chat completions path
    assert [r.url.path for r in upstream.requests] == [
        "/v1/messages",
        "/api/paas/v4/chat/completions",
    ]
    assert upstream.requests[0].headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    assert upstream.requests[1].headers["authorization"] == f"Bearer {KEYS['ZAI_API_KEY']}"
    # usage from each provider's own body (Anthropic's input counts its cache tokens too)
    assert (plan.usage.input_tokens, plan.usage.output_tokens) == (2095 + 100 + 5, 503)
    assert (code.usage.input_tokens, code.usage.output_tokens) == (19, 10)


async def test_glm_without_its_key_fails_at_once_naming_the_variable() -> None:
    upstream = Upstream()
    env = {"ANTHROPIC_API_KEY": KEYS["ANTHROPIC_API_KEY"]}
    async with gateway(two_lanes(), env=env, transport=upstream.transport()) as gw:
        with pytest.raises(ProviderError) as caught:
            await gw.complete(ask(), TaskContext(lane="coding"))
        outcome = await gw.run(ask(), TaskContext(lane="coding"))

    error = caught.value
    assert error.code is ErrorCode.NOT_CONFIGURED
    assert (error.provider, error.model) == ("zai", "glm-4.7")
    assert "ZAI_API_KEY" in str(error)
    assert error.trace == ("zai/glm-4.7:not_configured",)
    assert [(a.code, a.skipped) for a in error.attempts] == [("not_configured", True)]
    assert upstream.requests == []  # zero network calls
    assert outcome.status == "degraded"
    assert outcome.code == "not_configured"
    assert "ZAI_API_KEY" in (outcome.error or "")
    assert upstream.requests == []


async def test_glm_without_its_key_falls_back_to_a_configured_model() -> None:
    upstream = Upstream()
    upstream.queue(ANTHROPIC_HOST, anthropic_message("sonnet wrote it", "claude-sonnet-4-5"))
    env = {"ANTHROPIC_API_KEY": KEYS["ANTHROPIC_API_KEY"]}
    cfg = two_lanes(fallback=[str(SONNET)])
    async with gateway(cfg, env=env, transport=upstream.transport()) as gw:
        done = await gw.complete(ask(), TaskContext(lane="coding"))

    assert done.model_ref == SONNET
    assert done.trace == ("zai/glm-4.7:not_configured", "anthropic/claude-sonnet-4-5:success")
    assert upstream.hosts() == [ANTHROPIC_HOST]  # nothing went to api.z.ai


async def test_opus_rate_limited_retries_honouring_retry_after_then_falls_back() -> None:
    upstream = Upstream()
    limited = [
        anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "3"})
        for _ in range(3)
    ]
    upstream.queue(ANTHROPIC_HOST, *limited)
    upstream.queue(ZAI_HOST, openai_completion("glm answered"))
    clock = FakeClock()
    cfg = config(
        {"planning": {"primary": str(OPUS), "fallback": [str(GLM)]}},
        providers=REAL_PROVIDERS,
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport(), clock=clock) as gw:
        done = await gw.complete(ask(), TaskContext(lane="planning"))

    assert done.model_ref == GLM
    assert clock.sleeps == [3.0, 3.0]  # Retry-After (3 s) beats the 0.5 s / 1 s backoff
    assert done.trace == (
        "anthropic/claude-opus-4-5:rate_limit",
        "anthropic/claude-opus-4-5:retry",
        "anthropic/claude-opus-4-5:rate_limit",
        "anthropic/claude-opus-4-5:retry",
        "anthropic/claude-opus-4-5:rate_limit",
        "zai/glm-4.7:success",
    )
    assert [(a.model, a.attempt, a.retried) for a in done.attempts] == [
        (OPUS, 1, True),
        (OPUS, 2, True),
        (OPUS, 3, False),
        (GLM, 1, False),
    ]
    assert upstream.hosts() == [ANTHROPIC_HOST] * 3 + [ZAI_HOST]


async def test_retry_after_past_the_lane_deadline_is_not_waited_for() -> None:
    upstream = Upstream()
    upstream.queue(
        ANTHROPIC_HOST,
        anthropic_error(429, "rate_limit_error", "slow down", **{"retry-after": "45"}),
    )
    upstream.queue(ZAI_HOST, openai_completion("glm answered"))
    clock = FakeClock()
    cfg = config(
        {
            "planning": {
                "primary": str(OPUS),
                "fallback": [str(GLM)],
                "timeouts": {"attempt_s": 5, "total_s": 20},
            }
        },
        providers=REAL_PROVIDERS,
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport(), clock=clock) as gw:
        done = await gw.complete(ask(), TaskContext(lane="planning"))

    assert clock.sleeps == []
    assert done.model_ref == GLM
    assert done.trace == ("anthropic/claude-opus-4-5:rate_limit", "zai/glm-4.7:success")
    assert done.attempts[0].retried is False
