"""Turn engine events into audit rows: what is persisted, and what never is.

A request row is written `pending` from `RequestStarted` and completed from
`RequestFinished`; every other event becomes one routing-event row. This module
decides which fields reach disk:

- the user id is stored as `sha256(salt + user_id)` with a random salt kept in
  the store's `audit_meta` table (per store, so hashes cannot be matched against
  another deployment's or a dictionary of plain sha256s); the raw id only when
  `audit.store_raw_user_id` is on;
- message content, output and the routing model's reply only when
  `audit.store_content` is on;
- never: TaskContext metadata, description and `redact` strings, headers, keys.

Reading is tolerant: rows written by older or newer versions (unknown JSON
fields, missing keys) still load.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from laneway.events import (
    AttemptFinished,
    BreakerChanged,
    BudgetChanged,
    CandidateSkipped,
    DecisionMade,
    Event,
    RequestFinished,
    RequestStarted,
    RetryScheduled,
    RoutingCall,
)
from laneway.types import Attempt, ModelRef, RoutingDecision

FINAL_STATUSES = frozenset(
    {
        "success",
        "degraded",
        "parse_error",
        "validation_error",
        "pii_leak",
        "budget_exceeded",
        "rejected",
        "interrupted",
        "failed",
    }
)


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    """What the sink may persist, from `AuditSpec` plus the store's salt."""

    salt: str = ""
    store_content: bool = False
    store_raw_user_id: bool = False
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(slots=True)
class RequestRow:
    """One request. Fields not yet known (while pending) are None.

    Not frozen, on purpose: rows are built on the audit's hot path, and a frozen
    dataclass of this width costs twice as much to construct. Treat as read-only.
    """

    request_id: str
    ts: float
    status: str
    lane: str
    phase: str | None = None
    complexity: str | None = None
    job_id: str | None = None
    user_hash: str | None = None
    user_id: str | None = None
    prompt_version: str | None = None
    decision_model: str | None = None
    decision_method: str | None = None
    decision_rule_index: int | None = None
    decision_reasoning: str | None = None
    provider: str | None = None
    model: str | None = None
    error_code: str | None = None
    attempts: str | None = None  # JSON list
    trace: str | None = None  # JSON list
    duration_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    payload_sha256: str | None = None
    output_sha256: str | None = None
    content: str | None = None
    output: str | None = None
    extra: str | None = None  # JSON object
    finished_ts: float | None = None
    host: str | None = None
    pid: int | None = None

    def attempt_list(self) -> list[dict[str, Any]]:
        return [item for item in load_json_list(self.attempts) if isinstance(item, dict)]

    def trace_list(self) -> list[str]:
        return [str(item) for item in load_json_list(self.trace)]

    def extra_dict(self) -> dict[str, Any]:
        value = load_json(self.extra)
        return value if isinstance(value, dict) else {}


REQUEST_COLUMNS: tuple[str, ...] = tuple(RequestRow.__dataclass_fields__)

#: Columns a final event may set; `ts`, payload hash and content stay as `pending` wrote them.
FINAL_COLUMNS: tuple[str, ...] = (
    "status",
    "finished_ts",
    "phase",
    "complexity",
    "job_id",
    "user_hash",
    "user_id",
    "prompt_version",
    "decision_model",
    "decision_method",
    "decision_rule_index",
    "decision_reasoning",
    "provider",
    "model",
    "error_code",
    "attempts",
    "trace",
    "duration_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "output_sha256",
    "output",
    "extra",
)


@dataclass(slots=True)
class RoutingEventRow:
    """One routing event: decision, attempt, skip, retry, breaker, budget or routing_call.

    Not frozen for the same reason as `RequestRow`.
    """

    request_id: str | None
    ts: float
    seq: int
    kind: str
    model: str | None = None
    code: str | None = None
    elapsed_ms: float | None = None
    cost_usd: float | None = None
    detail: str | None = None  # JSON object

    def detail_dict(self) -> dict[str, Any]:
        value = load_json(self.detail)
        return value if isinstance(value, dict) else {}


EVENT_COLUMNS: tuple[str, ...] = tuple(RoutingEventRow.__dataclass_fields__)


def load_json(text: str | None) -> Any:
    """Parse persisted JSON; a damaged value reads as None instead of failing the reader."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def load_json_list(text: str | None) -> list[Any]:
    value = load_json(text)
    return value if isinstance(value, list) else []


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dump_json(value: Any) -> str:
    return _ENCODER.encode(value)


def hash_user_id(user_id: str, salt: str) -> str:
    return hashlib.sha256((salt + user_id).encode("utf-8")).hexdigest()


def attempt_to_dict(attempt: Attempt) -> dict[str, Any]:
    return {
        "model": str(attempt.model),
        "code": attempt.code,
        "attempt": attempt.attempt,
        "elapsed_ms": attempt.elapsed_ms,
        "retried": attempt.retried,
        "skipped": attempt.skipped,
        "credential": attempt.credential,  # a profile label such as "openai[backup]", not a key
    }


def _user_fields(user_id: str | None, policy: RecordPolicy) -> dict[str, Any]:
    if user_id is None:
        return {"user_hash": None, "user_id": None}
    raw = user_id if policy.store_raw_user_id else None
    return {"user_hash": hash_user_id(user_id, policy.salt), "user_id": raw}


def _decision_fields(decision: RoutingDecision | None) -> dict[str, Any]:
    if decision is None:
        return {}
    return {
        "decision_model": str(decision.model),
        "decision_method": decision.method,
        "decision_rule_index": decision.rule_index,
        "decision_reasoning": decision.reasoning,
    }


def pending_row(event: RequestStarted, policy: RecordPolicy) -> RequestRow:
    ctx = event.context
    return RequestRow(
        request_id=event.request_id,
        ts=event.ts,
        status="pending",
        lane=ctx.lane,
        phase=ctx.phase,
        complexity=None if ctx.complexity is None else str(ctx.complexity),
        job_id=ctx.job_id,
        prompt_version=ctx.prompt_version,
        payload_sha256=event.payload_sha256,
        content=event.content if policy.store_content else None,
        host=policy.host,
        pid=policy.pid,
        **_user_fields(ctx.user_id, policy),
    )


def final_row(event: RequestFinished, policy: RecordPolicy) -> RequestRow:
    """The completed row; written as an upsert so a lost `pending` row does not lose the request."""
    ctx = event.context
    usage = event.usage
    return RequestRow(
        request_id=event.request_id,
        ts=event.ts - event.duration_ms / 1000.0,
        finished_ts=event.ts,
        status=event.status,
        lane=ctx.lane,
        phase=ctx.phase,
        complexity=None if ctx.complexity is None else str(ctx.complexity),
        job_id=ctx.job_id,
        prompt_version=ctx.prompt_version,
        provider=None if event.model is None else event.model.provider,
        model=None if event.model is None else str(event.model),
        error_code=event.error_code,
        attempts=dump_json([attempt_to_dict(a) for a in event.attempts]),
        trace=dump_json(list(event.trace)),
        duration_ms=event.duration_ms,
        tokens_in=usage.input_tokens,
        tokens_out=usage.output_tokens,
        cost_usd=usage.cost_usd,
        output_sha256=event.output_sha256,
        output=event.output if policy.store_content else None,
        extra=_scalar_extra(event.extra),
        host=policy.host,
        pid=policy.pid,
        **_user_fields(ctx.user_id, policy),
        **_decision_fields(event.decision),
    )


def _scalar_extra(extra: dict[str, Any] | None) -> str | None:
    """Keep only flat scalar values of `extra`: it is diagnostic, never a place for payloads."""
    if not extra:
        return None
    kept = {k: v for k, v in extra.items() if isinstance(v, bool | int | float | str | None)}
    return dump_json(kept) if kept else None


def _model(ref: ModelRef | None) -> str | None:
    return None if ref is None else str(ref)


def routing_row(event: Event, seq: int, policy: RecordPolicy) -> RoutingEventRow | None:
    """The routing-event row for `event`, or None for the request lifecycle events."""
    match event:
        case DecisionMade(request_id=rid, ts=ts, decision=d):
            detail = {
                "fallback_chain": [str(m) for m in d.fallback_chain],
                "reasoning": d.reasoning,
                "rule_index": d.rule_index,
                "estimated_cost_usd": d.estimated_cost_usd,
            }
            return RoutingEventRow(
                rid,
                ts,
                seq,
                "decision",
                str(d.model),
                d.method,
                None,
                d.estimated_cost_usd,
                dump_json(detail),
            )
        case AttemptFinished(request_id=rid, ts=ts, attempt=a):
            detail = {
                "attempt": a.attempt,
                "retried": a.retried,
                "skipped": a.skipped,
                "credential": a.credential,
            }
            return RoutingEventRow(
                rid, ts, seq, "attempt", str(a.model), a.code, a.elapsed_ms, None, dump_json(detail)
            )
        case CandidateSkipped(request_id=rid, ts=ts, model=m, reason=reason):
            return RoutingEventRow(rid, ts, seq, "skip", str(m), reason)
        case RetryScheduled(request_id=rid, ts=ts, model=m, code=code, delay_s=delay):
            return RoutingEventRow(
                rid, ts, seq, "retry", str(m), code, detail=dump_json({"delay_s": delay})
            )
        case BreakerChanged(ts=ts, model=m, old=old, new=new):
            return RoutingEventRow(
                None, ts, seq, "breaker", str(m), new, detail=dump_json({"old": old})
            )
        case BudgetChanged(request_id=rid, ts=ts, action=action, scope=scope):
            detail = {"scope": scope, "tokens": event.tokens}
            return RoutingEventRow(
                rid,
                ts,
                seq,
                "budget",
                None,
                action,
                cost_usd=event.amount_usd,
                detail=dump_json(detail),
            )
        case RoutingCall():
            return _routing_call_row(event, seq, policy)
    return None


def _routing_call_row(event: RoutingCall, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    detail: dict[str, Any] = {"reason": event.reason, "chosen": _model(event.chosen)}
    if policy.store_content and event.reply is not None:
        detail["reply"] = event.reply
    return RoutingEventRow(
        event.request_id,
        event.ts,
        seq,
        "routing_call",
        str(event.routing_model),
        event.status,
        event.latency_ms,
        event.cost_usd,
        dump_json(detail),
    )
