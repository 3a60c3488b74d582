"""A lane's guard runs first: a `local` classifier judges the input before the main model.

The classifier is registered through the documented process-wide
`laneway.providers.local.register` (the Gateway builds its own adapters) and
removed after each test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.clock import next_pass
from laneway.events import RequestFinished
from laneway.providers import local
from laneway.types import CompletionRequest, FinishReason, StreamDone, TaskContext, TextDelta

CLASSIFIER = "engine-test-safety"
STOP_MESSAGE = "I can't help with that."


def classify(request: CompletionRequest) -> str:
    text = local.last_user_text(request).lower()
    if "explosive" in text:
        return json.dumps({"risk": "high", "reason": "weapons"})
    if "borderline" in text:
        return "medium: could be misused"
    if "unreadable" in text:
        return "¯\\_(ツ)_/¯"
    return json.dumps({"risk": "low"})


@pytest.fixture(autouse=True)
def classifier() -> Iterator[None]:
    local.register(CLASSIFIER, classify)
    yield
    local.default_registry.unregister(CLASSIFIER)


def guarded(**main: Any) -> dict[str, Any]:
    extra = main.pop("extra", {})
    return config(
        {
            "safety": {"primary": f"local/{CLASSIFIER}"},
            "work": {
                "primary": "f/a",
                "guard": {"lane": "safety", "message": STOP_MESSAGE},
                **main,
            },
        },
        providers={"f": {"kind": "fake"}, "local": {"kind": "local"}, **extra},
    )


async def test_a_high_risk_input_is_stopped_without_calling_the_main_model() -> None:
    gw = gateway(guarded())
    events = Events()
    gw.subscribe(events)

    done = await gw.complete(ask("how do I build an explosive"), TaskContext(lane="work"))
    await next_pass()  # the finish event follows the answer

    assert fake(gw).calls == []
    assert done.content == STOP_MESSAGE
    assert done.finish_reason is FinishReason.CONTENT_FILTER
    assert done.trace == (f"local/{CLASSIFIER}:success", "guard/safety:stop(high)")
    assert done.decision is not None
    assert "high risk" in done.decision.reasoning
    assert "weapons" in done.decision.reasoning
    assert [e.status for e in events.of(RequestFinished)] == ["rejected"]


async def test_a_low_risk_input_reaches_the_main_model() -> None:
    gw = gateway(guarded())
    fake(gw).enqueue("a", text="here is a cake recipe")

    done = await gw.complete(ask("how do I bake a cake"), TaskContext(lane="work"))

    assert done.content == "here is a cake recipe"
    assert done.trace == ("f/a:success",)
    assert [m for m, _ in fake(gw).calls] == ["a"]


async def test_an_unreadable_verdict_fails_closed() -> None:
    gw = gateway(guarded())
    done = await gw.complete(ask("unreadable please"), TaskContext(lane="work"))
    assert done.content == STOP_MESSAGE
    assert fake(gw).calls == []


async def test_the_main_lanes_providers_do_not_change_the_guard() -> None:
    cfg = guarded(
        primary="locked/x",
        fallback=["f/a"],
        extra={"locked": {"kind": "fake", "api_key_env": "LOCKED_KEY"}},
    )
    gw = gateway(cfg)
    done = await gw.complete(ask("an explosive question"), TaskContext(lane="work"))
    assert done.content == STOP_MESSAGE
    assert fake(gw).calls == []


async def test_a_stream_of_a_stopped_input_replays_the_guard_answer() -> None:
    gw = gateway(guarded())
    seen = Events()
    gw.subscribe(seen)
    events = [e async for e in gw.stream(ask("explosive"), TaskContext(lane="work"))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == STOP_MESSAGE
    assert isinstance(events[-1], StreamDone)
    assert fake(gw).calls == []
    # the stream's record ends `rejected`, as `complete` does: it used to stay `pending`
    finished = seen.of(RequestFinished)
    assert [f.status for f in finished if f.context.lane == "work"] == ["rejected"]


async def test_medium_risk_gets_the_configured_pause_response() -> None:
    cfg = guarded()
    cfg["lanes"]["work"]["guard"] |= {"action": "pause", "message": "Paused for review."}
    gw = gateway(cfg)
    done = await gw.complete(ask("a borderline question"), TaskContext(lane="work"))
    assert done.content == "Paused for review."
    assert done.trace[-1] == "guard/safety:pause(medium)"
    assert fake(gw).calls == []


async def test_block_at_high_lets_medium_risk_through() -> None:
    cfg = guarded()
    cfg["lanes"]["work"]["guard"] |= {"block_at": "high"}
    gw = gateway(cfg)
    fake(gw).enqueue("a", text="answered")
    done = await gw.complete(ask("a borderline question"), TaskContext(lane="work"))
    assert done.content == "answered"
