"""Reading a guard lane's verdict.

A guard lane (often a `local` classifier) answers with its risk: JSON such as
`{"risk": "high", "reason": "..."}`, or a bare `low` / `medium` / `high`. An
answer we cannot read counts as high risk: a guard fails closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

RISK_LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    risk: str
    reason: str
    blocked: bool


def parse_risk(text: str) -> tuple[str, str]:
    """(risk, reason) from a guard's answer; unreadable answers are `high`."""
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except ValueError:
        data = None
    if isinstance(data, dict):
        risk = str(data.get("risk", "")).strip().lower()
        if risk in RISK_LEVELS:
            return risk, str(data.get("reason", ""))[:200]
    words = stripped.lower().split()
    first = words[0].strip(".,:;!\"'") if words else ""
    if first in RISK_LEVELS:
        return first, stripped[len(first) :].strip(" .,:;-")[:200]
    return "high", "the guard's answer could not be read"


def judge(text: str, block_at: str) -> GuardVerdict:
    risk, reason = parse_risk(text)
    return GuardVerdict(risk, reason, RISK_LEVELS[risk] >= RISK_LEVELS[block_at])
