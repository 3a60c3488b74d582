"""Typed events the engine emits; audit and telemetry subscribe to them.

Events are plain values so a subscriber can batch, store or count them
without reaching back into the engine. `ts` is wall-clock seconds (for
storage); durations are measured on the monotonic clock.

They are frozen: every subscriber receives the same object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from laneway.types import Attempt, ModelRef, RoutingDecision, TaskContext, Usage


@dataclass(frozen=True, slots=True)
class RequestStarted:
    request_id: str
    ts: float
    context: TaskContext
    payload_sha256: str  # "" without an audit log (the hashes are computed for it)
    content: str | None = None  # only when audit.store_content is on


@dataclass(frozen=True, slots=True)
class DecisionMade:
    request_id: str
    ts: float
    decision: RoutingDecision


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    request_id: str
    ts: float
    attempt: Attempt


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    request_id: str
    ts: float
    model: ModelRef
    code: str
    delay_s: float


@dataclass(frozen=True, slots=True)
class CandidateSkipped:
    request_id: str
    ts: float
    model: ModelRef
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerChanged:
    ts: float
    model: ModelRef
    old: Literal["closed", "open", "half_open"]
    new: Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BudgetChanged:
    request_id: str
    ts: float
    action: Literal["reserve", "commit", "refund"]
    scope: str  # "task", "job:<id>", "key:<name>"
    amount_usd: float
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class RoutingCall:
    """One call of the llm_enhanced routing model (or why it was not made)."""

    request_id: str
    ts: float
    routing_model: ModelRef
    status: Literal["used", "cached", "ignored", "skipped", "failed"]
    reason: str
    chosen: ModelRef | None = None
    reply: str | None = None
    cost_usd: float = 0.0
    latency_ms: float = 0.0


RequestStatus = Literal[
    "success",
    "degraded",
    "parse_error",
    "validation_error",
    "pii_leak",
    "budget_exceeded",
    "rejected",
    "interrupted",
    "failed",
]


@dataclass(frozen=True, slots=True)
class RequestFinished:
    request_id: str
    ts: float
    context: TaskContext
    status: RequestStatus
    duration_ms: float
    decision: RoutingDecision | None = None
    model: ModelRef | None = None
    error_code: str | None = None
    attempts: tuple[Attempt, ...] = ()
    trace: tuple[str, ...] = ()
    usage: Usage = field(default_factory=Usage)
    output_sha256: str | None = None  # None without an audit log
    output: str | None = None  # only when audit.store_content is on
    extra: dict[str, Any] | None = None
    provider_model: str | None = None  # the upstream's own name for `model`


Event = (
    RequestStarted
    | DecisionMade
    | AttemptFinished
    | RetryScheduled
    | CandidateSkipped
    | BreakerChanged
    | BudgetChanged
    | RoutingCall
    | RequestFinished
)

Subscriber = Callable[[Event], None]
