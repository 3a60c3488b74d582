"""A provider's own `timeouts.attempt_s` caps each call to it, under the lane's limit."""

from __future__ import annotations

from typing import Any

from laneway import CompletionRequest, Gateway, TaskContext
from laneway.clock import FakeClock

CONFIG: dict[str, Any] = {
    "providers": {
        "slow": {"kind": "fake", "timeouts": {"attempt_s": 2}},
        "backup": {"kind": "fake"},
    },
    "lanes": {
        "chat": {
            "primary": "slow/m",
            "fallback": ["backup/m"],
            "timeouts": {"attempt_s": 30},
            "retry": {"timeout": {"retries": 0}},
        }
    },
    "audit": {"enabled": False},
}


async def test_the_provider_cap_times_out_before_the_lane_limit() -> None:
    clock = FakeClock()
    async with Gateway.from_config(CONFIG, env={}, clock=clock) as gw:
        gw.adapter("slow").enqueue("m", text="late", delay_s=5)  # type: ignore[attr-defined]
        gw.adapter("backup").enqueue("m", text="on time")  # type: ignore[attr-defined]
        done = await gw.complete(CompletionRequest.from_prompt("hi"), TaskContext(lane="chat"))
    assert done.content == "on time"
    assert done.trace == ("slow/m:timeout", "backup/m:success")
    assert clock.sleeps == [2.0]  # the provider's cap, not the lane's 30 s
