"""Turn engine events into audit rows: what is persisted, and what never is.

A request row is written `pending` from `RequestStarted` and completed from
`RequestFinished`, which carries the routing decision and every attempt: the
`DecisionMade` and `AttemptFinished` events say nothing the final row does not,
so they are not stored again (two rows fewer per request). Every other event
becomes one routing-event row. This module decides which fields reach disk:

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
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson

from laneway.events import (
    BreakerChanged,
    BudgetChanged,
    CandidateSkipped,
    Event,
    PolicyApplied,
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
    #: user id -> hash, filled as requests come (bounded); not part of the policy's identity
    user_hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One request. Fields not yet known (while pending) are None."""

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
    decision_fallback_chain: str | None = None  # JSON list of models
    decision_estimated_cost_usd: float | None = None
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
    provider_model: str | None = None  # the upstream's own name for `model` (schema 4)
    client_key: str | None = None
    client_request_id: str | None = None

    def attempt_list(self) -> list[dict[str, Any]]:
        return [item for item in load_json_list(self.attempts) if isinstance(item, dict)]

    def fallback_chain(self) -> list[str]:
        return [str(item) for item in load_json_list(self.decision_fallback_chain)]

    def trace_list(self) -> list[str]:
        return [str(item) for item in load_json_list(self.trace)]

    def extra_dict(self) -> dict[str, Any]:
        value = load_json(self.extra)
        return value if isinstance(value, dict) else {}


REQUEST_COLUMNS: tuple[str, ...] = tuple(RequestRow.__dataclass_fields__)

#: The task context's columns, which both a start and a final event set.
_CONTEXT_COLUMNS = ("phase", "complexity", "job_id", "user_hash", "user_id", "prompt_version")

#: Columns of `audit_pending`: what a request's start knows (its status is `pending`).
PENDING_COLUMNS: tuple[str, ...] = (
    "request_id",
    "ts",
    "lane",
    *_CONTEXT_COLUMNS,
    "payload_sha256",
    "content",
    "host",
    "pid",
)

#: Columns a final event may set; `ts`, payload hash and content stay as `pending` wrote them.
FINAL_COLUMNS: tuple[str, ...] = (
    "status",
    "finished_ts",
    *_CONTEXT_COLUMNS,
    "decision_model",
    "decision_method",
    "decision_rule_index",
    "decision_reasoning",
    "decision_fallback_chain",
    "decision_estimated_cost_usd",
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
    "provider_model",
    "client_key",
    "client_request_id",
)


@dataclass(frozen=True, slots=True)
class RoutingEventRow:
    """One routing event: skip, retry, breaker, budget, routing_call or policy.

    Logs written before schema version 2 also hold `decision` and `attempt` rows.
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
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)  # NaN or Infinity, which older versions wrote
        except ValueError:
            return None


def load_json_list(text: str | None) -> list[Any]:
    value = load_json(text)
    return value if isinstance(value, list) else []


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dump_json(value: Any) -> str:
    """Compact JSON; orjson, as the stdlib encoder is slow per small value on the hot path."""
    try:
        return orjson.dumps(value, default=str).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)  # what orjson refuses: non-str keys, integers over 64 bits


def hash_user_id(user_id: str, salt: str) -> str:
    return hashlib.sha256((salt + user_id).encode("utf-8")).hexdigest()


_MAX_USER_HASHES = 4096


def _user_hash(user_id: str, policy: RecordPolicy) -> str:
    """`hash_user_id`, remembered: a request hashes its user twice, and users come back."""
    known = policy.user_hashes
    digest = known.get(user_id)
    if digest is None:
        if len(known) >= _MAX_USER_HASHES:
            known.clear()
        digest = known[user_id] = hash_user_id(user_id, policy.salt)
    return digest


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


def pending_values(event: RequestStarted, policy: RecordPolicy) -> tuple[Any, ...]:
    """A pending row's values in `PENDING_COLUMNS` order, without building the row: what
    a strict start journals (`intents.py`)."""
    ctx = event.context
    user_id = ctx.user_id
    complexity = ctx.complexity
    return (
        event.request_id,
        event.ts,
        ctx.lane,
        ctx.phase,
        None if complexity is None else str(complexity),
        ctx.job_id,
        None if user_id is None else _user_hash(user_id, policy),
        user_id if policy.store_raw_user_id else None,
        ctx.prompt_version,
        event.payload_sha256,
        event.content if policy.store_content else None,
        policy.host,
        policy.pid,
    )


#: a pending row's values in `PENDING_COLUMNS` order, in one C call
PENDING_VALUES = attrgetter(*PENDING_COLUMNS)


def final_row(
    event: RequestFinished, policy: RecordPolicy, started: RequestStarted | None = None
) -> RequestRow:
    """The completed row (`final_values` as a `RequestRow`)."""
    return RequestRow(*final_values(event, policy, started))


def final_values(
    event: RequestFinished, policy: RecordPolicy, started: RequestStarted | None = None
) -> tuple[Any, ...]:
    """The completed row's values in `REQUEST_COLUMNS` order; written as an upsert so a
    lost `pending` row does not lose the request.

    With the request's `started` event, the row also holds what its `pending` row
    would (`pending_values(started, policy)`): inserting it stores what moving the
    pending row into `audit_requests` and upserting the final would, without
    building either of those rows. A tuple, not a `RequestRow`: it is what the
    INSERT binds, and a frozen row's constructor costs more than the rest of it
    (docs/performance.md, "Measurements behind the code"). Runs once per request.
    """
    ctx = event.context
    usage = event.usage
    user_id = ctx.user_id
    complexity = ctx.complexity
    decision = event.decision
    model = event.model
    attempts = event.attempts
    return (
        event.request_id,
        event.ts - event.duration_ms / 1000.0 if started is None else started.ts,
        event.status,
        ctx.lane if started is None else started.context.lane,
        ctx.phase,
        None if complexity is None else str(complexity),
        ctx.job_id,
        None if user_id is None else _user_hash(user_id, policy),
        user_id if policy.store_raw_user_id else None,
        ctx.prompt_version,
        *(_NO_DECISION if decision is None else _decision_values(decision)),
        None if model is None else model.provider,
        None if model is None else str(model),
        event.error_code,
        _attempts_json(attempts) if attempts else "[]",
        dump_json(event.trace),
        event.duration_ms,
        usage.input_tokens,
        usage.output_tokens,
        usage.cost_usd,
        None if started is None else started.payload_sha256,  # else kept from `pending`
        event.output_sha256,
        started.content if started is not None and policy.store_content else None,
        event.output if policy.store_content else None,
        _scalar_extra(event.extra),
        event.ts,
        policy.host,
        policy.pid,
        event.provider_model,
        ctx.client_key,
        ctx.client_request_id,
    )


_NO_DECISION = (None,) * 6


def _decision_values(decision: RoutingDecision) -> tuple[Any, ...]:
    """The six `decision_*` columns."""
    chain = decision.fallback_chain
    return (
        str(decision.model),
        decision.method,
        decision.rule_index,
        decision.reasoning,
        _model_list(chain) if chain else "[]",
        decision.estimated_cost_usd,
    )


def _attempts_json(attempts: tuple[Attempt, ...]) -> str:
    return dump_json(list(map(attempt_to_dict, attempts)))


def _scalar_extra(extra: dict[str, Any] | None) -> str | None:
    """Keep only flat scalar values of `extra`: it is diagnostic, never a place for payloads."""
    if not extra:
        return None
    kept = {k: v for k, v in extra.items() if isinstance(v, bool | int | float | str | None)}
    return dump_json(kept) if kept else None


def _model_list(refs: tuple[ModelRef, ...]) -> str:
    return dump_json(list(map(str, refs)))


def _model(ref: ModelRef | None) -> str | None:
    return None if ref is None else str(ref)


def routing_row(event: Event, seq: int, policy: RecordPolicy) -> RoutingEventRow | None:
    """The routing-event row for `event`, or None for events the request row holds.

    Dispatched on the event's type with one dict lookup (a `match` tried the
    cases in turn); subclasses of the event types still find their builder.
    """
    build = _ROW_BUILDERS.get(type(event))
    if build is None:
        for kind, builder in _ROW_BUILDERS.items():
            if isinstance(event, kind):
                build = builder
                break
        else:
            return None
    return build(event, seq, policy)


def _skip_row(event: CandidateSkipped, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    return RoutingEventRow(event.request_id, event.ts, seq, "skip", str(event.model), event.reason)


def _retry_row(event: RetryScheduled, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    return RoutingEventRow(
        event.request_id,
        event.ts,
        seq,
        "retry",
        str(event.model),
        event.code,
        detail=dump_json({"delay_s": event.delay_s}),
    )


def _breaker_row(event: BreakerChanged, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    return RoutingEventRow(
        None,
        event.ts,
        seq,
        "breaker",
        str(event.model),
        event.new,
        detail=dump_json({"old": event.old}),
    )


def _budget_row(event: BudgetChanged, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    return RoutingEventRow(
        event.request_id,
        event.ts,
        seq,
        "budget",
        None,
        event.action,
        cost_usd=event.amount_usd,
        detail=dump_json({"scope": event.scope, "tokens": event.tokens}),
    )


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


def _policy_row(event: PolicyApplied, seq: int, policy: RecordPolicy) -> RoutingEventRow:
    """kind `policy`: the candidate, the verdict (deny | replace), and which policy and why."""
    change = event.evaluation
    detail: dict[str, Any] = {"policy": change.policy, "reason": change.reason}
    if change.replacement is not None:
        detail["replacement"] = str(change.replacement)
    return RoutingEventRow(
        event.request_id,
        event.ts,
        seq,
        "policy",
        str(change.candidate),
        change.verdict,
        detail=dump_json(detail),
    )


_ROW_BUILDERS: dict[type[Any], Callable[[Any, int, RecordPolicy], RoutingEventRow]] = {
    CandidateSkipped: _skip_row,
    RetryScheduled: _retry_row,
    BreakerChanged: _breaker_row,
    BudgetChanged: _budget_row,
    RoutingCall: _routing_call_row,
    PolicyApplied: _policy_row,
}
