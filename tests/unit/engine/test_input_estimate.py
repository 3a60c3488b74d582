"""The prompt-size bound is made only for a router that reads it."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.engine.gateway import Gateway
from laneway.types import CompletionRequest, TaskContext


def _config(lane: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {"local": {"kind": "local"}},
        "lanes": {"a": lane},
        "audit": {"enabled": False},
    }


@pytest.mark.parametrize(
    ("lane", "expected"),
    [
        ({"primary": "local/echo"}, None),  # nothing to decide: the null router, no estimate
        ({"primary": "local/echo", "fallback": ["local/echo-b"]}, 112),  # static: prices it
    ],
)
async def test_the_estimate_follows_the_router(
    lane: dict[str, Any], expected: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = Gateway.from_config(_config(lane), env={})
    routing = gw._core.routing
    seen: list[int | None] = []
    route = routing.route

    def spied(
        ctx: TaskContext, *, input_tokens: int | None = None, max_tokens: int | None = None
    ) -> Any:
        seen.append(input_tokens)
        return route(ctx, input_tokens=input_tokens, max_tokens=max_tokens)

    monkeypatch.setattr(routing, "route", spied)
    request = CompletionRequest.from_prompt("x" * 96)  # 96 bytes + 16 per message = 112
    completion = await gw.complete(request, TaskContext(lane="a"))
    await gw.aclose()
    assert completion.content
    assert seen == [expected]
