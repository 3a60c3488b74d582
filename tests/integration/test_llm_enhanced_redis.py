"""llm_enhanced decisions are cached in Redis, so replicas share them.

Two gateways on one Redis database stand in for two replicas: the first asks
the routing model, the second is served from the shared cache. The routing
model and the lane's models are the scripted `fake` provider (this test is
about the engine's cache, not a wire format). Provider names and the task
description carry a random tag, so parallel runs share no key.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.events import Event, RoutingCall
from laneway.providers.fake import FakeAdapter
from laneway.types import CompletionRequest, ModelRef, TaskContext


def replica_config(redis_url: str, tag: str) -> dict[str, Any]:
    price = {"input": 1.0, "output": 2.0}
    return {
        "providers": {
            f"router{tag}": {"kind": "fake", "models": {"mini": {"price": price}}},
            f"work{tag}": {
                "kind": "fake",
                "models": {"a": {"price": price}, "b": {"price": price}},
            },
        },
        "lanes": {"coding": {"primary": f"work{tag}/a", "fallback": [f"work{tag}/b"]}},
        "routing": {
            "method": "llm_enhanced",
            "llm_enhanced": {"routing_model": f"router{tag}/mini"},
        },
        "state": {"url": redis_url},
        "audit": {"enabled": False},
    }


async def test_second_replica_uses_the_first_replicas_decision(redis_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    clock = FakeClock()
    ctx = TaskContext(lane="coding", description=f"shared task {tag}")
    request = CompletionRequest.from_prompt("hello")
    first = Gateway.from_config(replica_config(redis_url, tag), env={}, clock=clock)
    second = Gateway.from_config(replica_config(redis_url, tag), env={}, clock=clock)
    events: list[Event] = []
    first.subscribe(events.append)
    second.subscribe(events.append)
    router = first.adapter(f"router{tag}")
    assert isinstance(router, FakeAdapter)
    reply = {"model": f"work{tag}/b", "reasoning": "b suits it", "estimated_tokens": 10}
    router.enqueue("mini", text=json.dumps(reply))
    try:
        one = await first.complete(request, ctx)
        two = await second.complete(request, ctx)
    finally:
        await first.aclose()
        await second.aclose()

    chosen = ModelRef(f"work{tag}", "b")
    assert one.model_ref == two.model_ref == chosen
    calls = [e for e in events if isinstance(e, RoutingCall)]
    assert [(c.status, c.chosen) for c in calls] == [("used", chosen), ("cached", chosen)]
    other = second.adapter(f"router{tag}")
    assert isinstance(other, FakeAdapter)
    assert other.calls == []  # the second replica never asked its routing model
