"""Reads for `laneway logs` and `laneway stats`: select, aggregate.

Aggregation happens here in Python over selected rows, so SQLite and PostgreSQL
give identical numbers (percentiles are nearest-rank). A request counts as a
*fallback* when it was served by, or tried, a model other than the decision's
first choice; a *guard stop* (the lane's guard refused the input, status
`rejected`) is counted as such, never as a fallback. A decision counts as
*budget-driven* when its method names a budget or its reasoning mentions one.
Requests are attributed to the configured model that served them; one no
model served counts under `NOT_SERVED`, never under the model routing chose.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.errors import ConfigError

GROUPINGS = ("lane_model", "lane", "model", "provider")

#: the group of requests no model served (failed, refused, stopped by a budget)
NOT_SERVED = "(not served)"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """'30m', '1h', '2d', '1w', '45s' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if match is None:
        raise ConfigError(
            f"cannot read the duration {text!r}",
            hint="write a number and a unit: 45s, 30m, 1h, 2d or 1w",
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


# -- per-request facts ---------------------------------------------------------


def is_guard_stop(row: RequestRow) -> bool:
    """The lane's guard refused the input: laneway itself answered, no model was tried."""
    return row.decision_method == "guard" or (
        row.provider == "laneway" and row.status == "rejected"
    )


def served_model(row: RequestRow) -> str:
    """The configured `provider/model` that served the request, or `NOT_SERVED`."""
    return row.model if row.model and not is_guard_stop(row) else NOT_SERVED


def is_fallback(row: RequestRow) -> bool:
    if row.decision_model is None or is_guard_stop(row):
        return False
    if row.model is not None and row.model != row.decision_model:
        return True
    tried = {a.get("model") for a in row.attempt_list() if not a.get("skipped")}
    return bool(tried - {row.decision_model, None})


def is_budget_driven(row: RequestRow) -> bool:
    method = (row.decision_method or "").lower()
    return "budget" in method or "budget" in (row.decision_reasoning or "").lower()


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def group_key(row: RequestRow, by: str) -> str:
    model = served_model(row)
    if by == "lane":
        return row.lane
    if by == "model":
        return model
    if by == "provider":
        return NOT_SERVED if model == NOT_SERVED else model.split("/", 1)[0]
    return f"{row.lane} {model}"


# -- stats ---------------------------------------------------------------------


@dataclass(slots=True)
class GroupStats:
    key: str
    requests: int = 0
    share: float = 0.0
    fallbacks: int = 0
    fallback_rate: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    error_codes: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


def summarize(rows: Sequence[RequestRow], by: str = "lane_model") -> list[GroupStats]:
    """One `GroupStats` per group, busiest first."""
    groups: dict[str, list[RequestRow]] = defaultdict(list)
    for row in rows:
        groups[group_key(row, by)].append(row)
    total = len(rows) or 1
    result = [_group_stats(key, members, total) for key, members in groups.items()]
    return sorted(result, key=lambda g: (-g.requests, g.key))


def _group_stats(key: str, rows: list[RequestRow], total: int) -> GroupStats:
    durations = [r.duration_ms for r in rows if r.duration_ms is not None and r.status != "pending"]
    fallbacks = sum(1 for r in rows if is_fallback(r))
    return GroupStats(
        key=key,
        requests=len(rows),
        share=len(rows) / total,
        fallbacks=fallbacks,
        fallback_rate=fallbacks / len(rows),
        statuses=dict(Counter(r.status for r in rows).most_common()),
        error_codes=dict(Counter(r.error_code for r in rows if r.error_code).most_common()),
        p50_ms=percentile(durations, 50),
        p95_ms=percentile(durations, 95),
        tokens_in=sum(r.tokens_in or 0 for r in rows),
        tokens_out=sum(r.tokens_out or 0 for r in rows),
        cost_usd=sum(r.cost_usd or 0.0 for r in rows),
    )


@dataclass(slots=True)
class RoutingStats:
    decisions: int = 0
    decided_models: dict[str, int] = field(default_factory=dict)
    served_models: dict[str, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    rules: dict[str, int] = field(default_factory=dict)  # "static rule 0", "static default"
    fallbacks: int = 0
    fallback_rate: float = 0.0
    guard_stops: int = 0
    budget_downgrades: int = 0
    routing_calls: dict[str, int] = field(default_factory=dict)  # RoutingCall.status -> count
    routing_cost_usd: float = 0.0
    routing_p50_ms: float | None = None
    breaker_openings: dict[str, int] = field(default_factory=dict)
    skips: dict[str, int] = field(default_factory=dict)


def routing_stats(rows: Sequence[RequestRow], events: Iterable[RoutingEventRow]) -> RoutingStats:
    decided = [r for r in rows if r.decision_model is not None]
    stats = RoutingStats(decisions=len(decided))
    stats.decided_models = _counts(r.decision_model for r in decided)
    stats.served_models = _counts(r.model for r in rows if r.model and not is_guard_stop(r))
    stats.methods = _counts(r.decision_method or "-" for r in decided)
    stats.rules = _counts(_rule_label(r) for r in decided)
    stats.fallbacks = sum(1 for r in decided if is_fallback(r))
    stats.fallback_rate = stats.fallbacks / len(decided) if decided else 0.0
    stats.guard_stops = sum(1 for r in rows if is_guard_stop(r))
    stats.budget_downgrades = sum(1 for r in decided if is_budget_driven(r))
    calls = [e for e in events if e.kind in ("routing_call", "breaker", "skip")]
    routing = [e for e in calls if e.kind == "routing_call"]
    stats.routing_calls = _counts(e.code or "-" for e in routing)
    stats.routing_cost_usd = sum(e.cost_usd or 0.0 for e in routing)
    stats.routing_p50_ms = percentile([e.elapsed_ms for e in routing if e.elapsed_ms], 50)
    stats.breaker_openings = _counts(
        e.model or "-" for e in calls if e.kind == "breaker" and e.code == "open"
    )
    stats.skips = _counts(f"{e.model} ({e.code})" for e in calls if e.kind == "skip")
    return stats


def _rule_label(row: RequestRow) -> str:
    method = row.decision_method or "-"
    if row.decision_rule_index is None:
        return f"{method} (no rule)"
    return f"{method} rule {row.decision_rule_index}"


def _counts(values: Iterable[str | None]) -> dict[str, int]:
    return dict(Counter(v for v in values if v is not None).most_common())
