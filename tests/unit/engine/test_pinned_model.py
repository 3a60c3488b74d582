"""A caller may pin one exact model: no routing, no fallback, the lane's rules still apply."""

from __future__ import annotations

from typing import Any

import pytest

from laneway import CompletionRequest, Gateway, ModelRef, RoutingExhaustedError, TaskContext
from laneway.clock import FakeClock

CONFIG: dict[str, Any] = {
    "providers": {"p": {"kind": "fake"}},
    "lanes": {"coding": {"primary": "p/main", "fallback": ["p/backup"]}},
    "audit": {"enabled": False},
}


async def test_a_pinned_model_serves_without_routing() -> None:
    async with Gateway.from_config(CONFIG, env={}, clock=FakeClock()) as gw:
        gw.adapter("p").enqueue("other", text="from the pinned model")  # type: ignore[attr-defined]
        ctx = TaskContext(lane="coding", model=ModelRef("p", "other"))
        done = await gw.complete(CompletionRequest.from_prompt("hi"), ctx)
        assert done.content == "from the pinned model"
        assert done.decision is not None
        assert (done.decision.method, done.decision.fallback_chain) == ("pinned", ())
        assert done.trace == ("p/other:success",)
        assert gw.route(ctx).model == ModelRef("p", "other")


async def test_a_pinned_model_that_fails_does_not_fall_back() -> None:
    async with Gateway.from_config(CONFIG, env={}, clock=FakeClock()) as gw:
        gw.adapter("p").enqueue("other", error_code="invalid_response", status=200)  # type: ignore[attr-defined]
        ctx = TaskContext(lane="coding", model=ModelRef("p", "other"))
        with pytest.raises(RoutingExhaustedError) as info:
            await gw.complete(CompletionRequest.from_prompt("hi"), ctx)
        assert [str(a.model) for a in info.value.attempts] == ["p/other"]
