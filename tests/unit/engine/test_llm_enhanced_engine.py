"""llm_enhanced routing through the Gateway: the routing call, its cache and its event.

The routing model is a real `openai_compatible` adapter over
`HttpxTransport(httpx.MockTransport(...))`; the scripted upstream answers in the
Chat Completions wire format of tests/specs/openai-chat.prism.yaml
(`POST /chat/completions` -> `CreateChatCompletionResponse`: `choices[].message.content`,
`finish_reason`, `usage.prompt_tokens` / `completion_tokens`; request
`response_format: {type: json_schema, json_schema: {name, schema, strict}}`).
The lane's own models are the scripted `fake` provider. Time is a `FakeClock`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.events import DecisionMade, Event, RoutingCall
from laneway.http import HttpxTransport
from laneway.providers.fake import FakeAdapter
from laneway.types import Capability, CompletionRequest, Complexity, ModelRef, TaskContext

STRONG = ModelRef("work", "strong")
MID = ModelRef("work", "mid")
CHEAP = ModelRef("work", "cheap")
ROUTER = ModelRef("router", "route-mini")
ROUTER_URL = "https://router.test/v1/chat/completions"
ROUTER_PRICE = (0.15, 0.6)  # USD per million tokens, in and out


def config(**llm_enhanced: Any) -> dict[str, Any]:
    models = {
        "strong": (5.0, 25.0, ["tools", "json_schema", "streaming"]),
        "mid": (1.0, 5.0, ["tools", "streaming"]),
        "cheap": (0.1, 0.4, ["streaming"]),
    }
    return {
        "providers": {
            "router": {
                "kind": "openai_compatible",
                "base_url": "https://router.test/v1",
                "api_key": "router-test-key",
                "models": {
                    "route-mini": {
                        "price": {"input": ROUTER_PRICE[0], "output": ROUTER_PRICE[1]},
                        "capabilities": ["json_schema"],
                    }
                },
            },
            "work": {
                "kind": "fake",
                "models": {
                    name: {"price": {"input": i, "output": o}, "capabilities": caps}
                    for name, (i, o, caps) in models.items()
                },
            },
        },
        "lanes": {"coding": {"primary": "work/mid", "fallback": ["work/strong", "work/cheap"]}},
        "routing": {
            "method": "llm_enhanced",
            "llm_enhanced": {"routing_model": "router/route-mini", "timeout_s": 2, **llm_enhanced},
        },
        "audit": {"enabled": False},
    }


def chat_completion(content: str, prompt_tokens: int = 400, completion_tokens: int = 40) -> Any:
    """A `CreateChatCompletionResponse` as the spec shows it."""
    return {
        "id": "chatcmpl-route-1",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "route-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def choice(model: str, reasoning: str, tokens: int = 600) -> str:
    return json.dumps({"model": model, "reasoning": reasoning, "estimated_tokens": tokens})


class RoutingUpstream:
    """The routing model's server: replies in order; every request kept."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.replies: list[Callable[[httpx.Request], httpx.Response]] = []

    def reply(self, content: str) -> None:
        body = chat_completion(content)
        self.replies.append(lambda _: httpx.Response(200, json=body))

    def fail_with(self, exc: Exception) -> None:
        def raise_(_: httpx.Request) -> httpx.Response:
            raise exc

        self.replies.append(raise_)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.replies.pop(0)(request)

    def body(self, index: int = -1) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[index].content)
        return data


@pytest.fixture
def upstream() -> RoutingUpstream:
    return RoutingUpstream()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Harness:
    def __init__(self, gw: Gateway, events: list[Event]) -> None:
        self.gw = gw
        self.events = events

    @property
    def calls(self) -> list[RoutingCall]:
        return [e for e in self.events if isinstance(e, RoutingCall)]

    @property
    def work(self) -> FakeAdapter:
        adapter = self.gw.adapter("work")
        assert isinstance(adapter, FakeAdapter)
        return adapter


@pytest.fixture
async def make(
    upstream: RoutingUpstream, clock: FakeClock
) -> AsyncIterator[Callable[..., Harness]]:
    gateways: list[Gateway] = []

    def build(**llm_enhanced: Any) -> Harness:
        transport = HttpxTransport(transport=httpx.MockTransport(upstream.handler))
        gw = Gateway.from_config(config(**llm_enhanced), env={}, transport=transport, clock=clock)
        events: list[Event] = []
        gw.subscribe(events.append)
        gateways.append(gw)
        return Harness(gw, events)

    yield build
    for gw in gateways:
        await gw.aclose()


REQUEST = CompletionRequest.from_prompt("Write a tokenizer for the config language.")
HARD = TaskContext(
    lane="coding", phase="design", complexity=Complexity.HIGH, description="design a compiler"
)
EASY = TaskContext(
    lane="coding", phase="format", complexity=Complexity.LOW, description="fix a typo"
)
STATIC_REASONING = "lane 'coding' default (no routing rules) -> work/mid"


def measured_cost(prompt_tokens: int = 400, completion_tokens: int = 40) -> float:
    return (prompt_tokens * ROUTER_PRICE[0] + completion_tokens * ROUTER_PRICE[1]) / 1e6


async def test_valid_reply_routes_the_request_and_records_a_used_call(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply(choice("work/strong", "a compiler design is hard"))
    completion = await h.gw.complete(REQUEST, HARD)

    assert completion.model_ref == STRONG
    decision = completion.decision
    assert decision is not None
    assert decision.method == "llm_enhanced"
    assert decision.fallback_chain == (MID, CHEAP)
    assert decision.reasoning == (
        "routing model router/route-mini chose work/strong: a compiler design is hard"
    )
    sent = upstream.body()
    assert sent["model"] == "route-mini"
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["max_tokens"] == 300
    assert '"description": "design a compiler"' in sent["messages"][1]["content"]
    [call] = h.calls
    assert (call.status, call.chosen, call.routing_model) == ("used", STRONG, ROUTER)
    assert call.reason == "chose work/strong"
    assert call.reply == choice("work/strong", "a compiler design is hard")
    assert call.cost_usd == pytest.approx(measured_cost())
    assert call.request_id == completion.request_id
    # the RoutingCall comes before the DecisionMade it led to
    kinds = [type(e) for e in h.events]
    assert kinds.index(RoutingCall) < kinds.index(DecisionMade)


async def test_invalid_json_is_ignored_and_static_routing_decides(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply("I would pick the strong model.")
    completion = await h.gw.complete(REQUEST, HARD)

    assert completion.model_ref == MID
    assert completion.decision is not None
    assert completion.decision.method == "static"
    assert completion.decision.reasoning == (
        f"{STATIC_REASONING}; llm_enhanced: the reply is not valid JSON, static routing decided"
    )
    [call] = h.calls
    assert (call.status, call.chosen) == ("ignored", None)
    assert call.reason == "the reply is not valid JSON"
    assert call.reply == "I would pick the strong model."
    assert call.cost_usd == pytest.approx(measured_cost())  # paid for, even if unusable


async def test_model_not_in_the_lane_is_ignored(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply(choice("router/route-mini", "I can do it myself"))
    completion = await h.gw.complete(REQUEST, HARD)

    assert completion.model_ref == MID
    [call] = h.calls
    assert call.status == "ignored"
    assert call.chosen == ROUTER
    assert call.reason == (
        "router/route-mini is not a candidate of the lane "
        "(candidates: work/mid, work/strong, work/cheap)"
    )
    assert completion.decision is not None
    assert call.reason in completion.decision.reasoning


async def test_model_lacking_a_required_capability_is_ignored(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply(choice("work/cheap", "an easy task"))
    ctx = TaskContext(
        lane="coding", description="call the tools", requires=frozenset({Capability.TOOLS})
    )
    completion = await h.gw.complete(REQUEST, ctx)

    assert completion.model_ref == MID
    assert '"model": "work/cheap"' not in upstream.body()["messages"][1]["content"]
    [call] = h.calls
    assert (call.status, call.chosen) == ("ignored", CHEAP)
    assert call.reason == "work/cheap lacks tools, which the task requires"
    assert completion.decision is not None
    assert completion.decision.reasoning.endswith(
        "llm_enhanced: work/cheap lacks tools, which the task requires, static routing decided"
    )


async def test_timeout_falls_back_and_the_request_still_succeeds(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.fail_with(httpx.ReadTimeout("timed out"))
    completion = await h.gw.complete(REQUEST, HARD)

    assert completion.model_ref == MID
    assert completion.decision is not None
    assert completion.decision.reasoning.endswith(
        "llm_enhanced: routing model router/route-mini failed (timeout), static routing decided"
    )
    [call] = h.calls
    assert (call.status, call.chosen, call.reply, call.cost_usd) == ("failed", None, None, 0.0)
    assert call.reason == "routing model router/route-mini failed (timeout)"


async def test_slow_fake_routing_model_times_out_on_its_own_deadline(
    make: Callable[..., Harness], clock: FakeClock
) -> None:
    """The routing deadline is `timeout_s`, not the lane's: a 5 s reply misses a 2 s deadline."""
    cfg = config()
    cfg["providers"]["router"] = {
        "kind": "fake",
        "models": {"route-mini": {"price": {"input": 0.15, "output": 0.6}}},
    }
    gw = Gateway.from_config(cfg, env={}, clock=clock)
    try:
        events: list[Event] = []
        gw.subscribe(events.append)
        router = gw.adapter("router")
        assert isinstance(router, FakeAdapter)
        router.enqueue("route-mini", text=choice("work/strong", "late"), delay_s=5.0)
        started = clock.monotonic()
        completion = await gw.complete(REQUEST, HARD)
    finally:
        await gw.aclose()
    assert completion.model_ref == MID
    [call] = [e for e in events if isinstance(e, RoutingCall)]
    assert call.status == "failed"
    assert call.latency_ms == pytest.approx(2_000)
    assert clock.sleeps == [2.0]
    assert clock.monotonic() - started == pytest.approx(2.0)


async def test_estimate_over_the_cap_skips_the_call(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make(max_routing_cost_usd=0.00005)
    completion = await h.gw.complete(REQUEST, HARD)

    assert upstream.requests == []  # no call made
    assert completion.model_ref == MID
    [call] = h.calls
    assert call.status == "skipped"
    assert call.cost_usd == 0.0
    assert "is over max_routing_cost_usd $0.000050" in call.reason
    assert completion.decision is not None
    assert call.reason in completion.decision.reasoning


async def test_second_identical_context_is_served_from_the_cache(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply(choice("work/strong", "hard"))
    first = await h.gw.complete(REQUEST, HARD)
    second = await h.gw.complete(REQUEST, HARD)

    assert len(upstream.requests) == 1  # one routing call for two requests
    assert first.model_ref == second.model_ref == STRONG
    assert second.decision == first.decision
    used, cached = h.calls
    assert (used.status, cached.status) == ("used", "cached")
    assert cached.chosen == STRONG
    assert cached.reason == "cache hit: chose work/strong"
    assert (cached.cost_usd, cached.latency_ms) == (0.0, 0.0)


async def test_cache_expires_after_its_ttl(
    make: Callable[..., Harness], upstream: RoutingUpstream, clock: FakeClock
) -> None:
    h = make(cache_ttl_s=60)
    upstream.reply(choice("work/strong", "hard"))
    upstream.reply(choice("work/cheap", "changed my mind"))
    await h.gw.complete(REQUEST, HARD)
    clock.advance(61)
    again = await h.gw.complete(REQUEST, HARD)

    assert len(upstream.requests) == 2
    assert again.model_ref == CHEAP
    assert [c.status for c in h.calls] == ["used", "used"]


async def test_different_contexts_are_routed_to_different_models(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    upstream.reply(choice("work/strong", "a compiler is hard", 4_000))
    upstream.reply(choice("work/cheap", "a typo is easy", 50))
    hard = await h.gw.complete(REQUEST, HARD)
    easy = await h.gw.complete(REQUEST, EASY)

    assert (hard.model_ref, easy.model_ref) == (STRONG, CHEAP)
    assert easy.decision is not None
    assert easy.decision.reasoning.endswith("chose work/cheap: a typo is easy")
    assert easy.decision.fallback_chain == (MID, STRONG)
    assert [(c.status, c.chosen) for c in h.calls] == [("used", STRONG), ("used", CHEAP)]
    assert '"phase": "format"' in upstream.body(1)["messages"][1]["content"]


async def test_provider_error_falls_back_without_failing_run(
    make: Callable[..., Harness], upstream: RoutingUpstream
) -> None:
    h = make()
    body = {"error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}}
    upstream.replies.append(lambda _: httpx.Response(503, json=body))
    outcome = await h.gw.run(REQUEST, HARD)

    assert outcome.ok
    assert outcome.completion is not None
    assert outcome.completion.model_ref == MID
    [call] = h.calls
    assert (call.status, call.reason) == (
        "failed",
        "routing model router/route-mini failed (unavailable)",
    )


async def test_missing_routing_key_skips_the_call(upstream: RoutingUpstream) -> None:
    cfg = config()
    del cfg["providers"]["router"]["api_key"]
    cfg["providers"]["router"]["api_key_env"] = "ROUTER_KEY"
    transport = HttpxTransport(transport=httpx.MockTransport(upstream.handler))
    gw = Gateway.from_config(cfg, env={}, transport=transport, clock=FakeClock())
    events: list[Event] = []
    gw.subscribe(events.append)
    try:
        completion = await gw.complete(REQUEST, HARD)
    finally:
        await gw.aclose()
    assert completion.model_ref == MID
    assert upstream.requests == []
    [call] = [e for e in events if isinstance(e, RoutingCall)]
    assert (call.status, call.reason) == (
        "skipped",
        "routing model router/route-mini is not configured",
    )


async def test_anthropic_routing_model_answers_through_the_forced_output_tool(
    clock: FakeClock,
) -> None:
    """Anthropic Messages API (tests/specs/anthropic-wire-format.md and
    anthropic-openapi.json `Message`): structured output is a forced tool; its
    `tool_use.input` is the reply; `usage.input_tokens` / `output_tokens` price it."""
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "msg_01route",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01route",
                        "name": "json_response",
                        "input": {
                            "model": "work/cheap",
                            "reasoning": "a typo fix is easy",
                            "estimated_tokens": 50,
                        },
                    }
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": 500, "output_tokens": 60},
            },
        )

    cfg = config()
    cfg["providers"]["anthropic"] = {"kind": "anthropic", "api_key": "anthropic-test-key"}
    cfg["routing"]["llm_enhanced"]["routing_model"] = "anthropic/claude-haiku-4-5"
    transport = HttpxTransport(transport=httpx.MockTransport(handler))
    gw = Gateway.from_config(cfg, env={}, transport=transport, clock=clock)
    events: list[Event] = []
    gw.subscribe(events.append)
    try:
        completion = await gw.complete(REQUEST, EASY)
    finally:
        await gw.aclose()

    assert completion.model_ref == CHEAP
    [body] = sent
    assert body["model"] == "claude-haiku-4-5"
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert body["tools"][0]["input_schema"]["required"] == [
        "model",
        "reasoning",
        "estimated_tokens",
    ]
    [call] = [e for e in events if isinstance(e, RoutingCall)]
    assert (call.status, call.chosen) == ("used", CHEAP)
    haiku = gw.config.catalog[ModelRef("anthropic", "claude-haiku-4-5")].price
    assert haiku is not None
    assert call.cost_usd == pytest.approx(haiku.cost_usd(500, 60))
