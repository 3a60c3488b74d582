"""A recorded run with a known routing distribution, written through the real sink.

10 requests in lane `coding`, all decided `anthropic/opus` by static rule 0:
- 6 served by opus first time;
- 3 hit opus rate_limit and fell back to `zai/glm` (the breaker opens on the 3rd);
- 1 failed on both (timeout) with error code `timeout`.
2 requests in lane `planning`, decided `zai/glm` by `llm_enhanced` (one routing call
`used` costing 0.001 USD, one `cached`), the second a budget-driven downgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from laneway.audit.sink import StoreSink
from laneway.audit.sqlite import SqliteStore
from laneway.clock import FakeClock
from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    DecisionMade,
    RequestFinished,
    RequestStarted,
    RequestStatus,
    RoutingCall,
)
from laneway.types import Attempt, ModelRef, RoutingDecision, TaskContext, Usage

OPUS = ModelRef("anthropic", "opus")
GLM = ModelRef("zai", "glm")
HAIKU = ModelRef("anthropic", "haiku")
T0 = 1_700_000_000.0


async def _request(
    sink: StoreSink,
    rid: str,
    ts: float,
    lane: str,
    decision: RoutingDecision,
    attempts: tuple[Attempt, ...],
    *,
    status: RequestStatus = "success",
    code: str | None = None,
) -> None:
    ctx = TaskContext(lane=lane, user_id=f"user-{rid}")
    await sink.start(RequestStarted(rid, ts, ctx, "0" * 64))
    sink.record(DecisionMade(rid, ts, decision))
    for attempt in attempts:
        sink.record(AttemptFinished(rid, ts + attempt.elapsed_ms / 1000, attempt))
    served = attempts[-1].model if status == "success" else None
    duration = sum(a.elapsed_ms for a in attempts)
    sink.record(
        RequestFinished(
            rid,
            ts + duration / 1000,
            ctx,
            status,
            duration,
            decision=decision,
            model=served,
            error_code=code,
            attempts=attempts,
            trace=tuple(f"{a.model}:{a.code}" for a in attempts),
            usage=Usage(100, 40, 0.01 if served == OPUS else 0.002),
        )
    )


async def record_run(path: Path) -> None:
    sink = StoreSink(SqliteStore(path), clock=FakeClock())
    static = RoutingDecision(OPUS, (GLM,), "rule 0: phase=impl", "static", rule_index=0)
    for i in range(6):
        await _request(
            sink,
            f"ok-{i}",
            T0 + i * 600,
            "coding",
            static,
            (Attempt(OPUS, "success", 1, 800.0 + i * 100),),
        )
    for i in range(3):
        attempts = (Attempt(OPUS, "rate_limit", 1, 50.0), Attempt(GLM, "success", 1, 400.0))
        await _request(sink, f"fb-{i}", T0 + 4000 + i * 600, "coding", static, attempts)
    sink.record(BreakerChanged(T0 + 5300, OPUS, "closed", "open"))
    failed = (Attempt(OPUS, "timeout", 1, 3000.0), Attempt(GLM, "timeout", 1, 3000.0))
    await _request(
        sink, "bad-0", T0 + 6000, "coding", static, failed, status="failed", code="timeout"
    )
    calls: tuple[tuple[Literal["used", "cached"], str], ...] = (
        ("used", "fits"),
        ("cached", "budget downgrade: f/dear is over the budget; took zai/glm-4.7"),
    )
    for i, (status, reasoning) in enumerate(calls):
        enhanced = RoutingDecision(GLM, (), reasoning, "llm_enhanced")
        cost = 0.001 if status == "used" else 0.0
        sink.record(
            RoutingCall(
                f"plan-{i}",
                T0 + 7000 + i,
                HAIKU,
                status,
                "ok",
                chosen=GLM,
                cost_usd=cost,
                latency_ms=120.0,
            )
        )
        await _request(
            sink,
            f"plan-{i}",
            T0 + 7000 + i,
            "planning",
            enhanced,
            (Attempt(GLM, "success", 1, 300.0),),
        )
    await sink.aclose()
