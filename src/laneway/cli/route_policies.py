"""`laneway route` and `policies:`: the decision after the policies, and `--explain` per candidate.

The review is the gateway's own (`engine/policy_review.py`), hooks included
(they are local code, not provider calls), run on a light host: no adapter,
no state store, no audit log is opened, and nothing is recorded: `route` is
a what-if.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from laneway.clock import Clock, SystemClock
from laneway.engine.bus import EventBus
from laneway.engine.policy_review import review_policies
from laneway.errors import PolicyDeniedError
from laneway.policies import PolicySet, compile_policies
from laneway.types import ModelInfo, ModelRef, PolicyEvaluation, RoutingDecision, TaskContext

if TYPE_CHECKING:
    from laneway.config.model import Config


@dataclass
class _RouteHost:
    """The `PolicyHost` of a what-if review."""

    config: Config
    policies: PolicySet
    clock: Clock = field(default_factory=SystemClock)
    bus: EventBus = field(default_factory=EventBus)

    def model_info(self, model: ModelRef) -> ModelInfo:
        return self.config.model_info(model)

    def request_id_of(self, ctx: TaskContext) -> str:
        return ctx.request_id or "route"


@dataclass(frozen=True, slots=True)
class PolicyView:
    """What `route` shows of the policies: the decision after them, and every verdict."""

    decision: RoutingDecision | None  # None: every candidate was denied
    rows: tuple[PolicyEvaluation, ...]
    denied: PolicyDeniedError | None = None


def review_for_cli(
    config: Config, ctx: TaskContext, decision: RoutingDecision, input_tokens: int | None
) -> PolicyView | None:
    """None when no policy is configured."""
    if not config.spec.policies:
        return None
    policies = compile_policies(config.spec.policies)
    host = _RouteHost(config, policies)
    try:
        reviewed = asyncio.run(
            review_policies(host, decision, ctx, _Tokens(input_tokens), verbose=True)
        )
    except PolicyDeniedError as exc:
        denied_decision = exc.decision or decision
        return PolicyView(None, _rows(policies, ctx, denied_decision.policy, decision), exc)
    return PolicyView(reviewed, _rows(policies, ctx, reviewed.policy, decision))


class _Tokens:
    """The one thing a review asks of a request: its input-token estimate."""

    def __init__(self, tokens: int | None) -> None:
        self._tokens = tokens

    def estimated_input_tokens(self) -> int:
        from laneway.routing.selection import DEFAULT_INPUT_TOKENS

        return self._tokens if self._tokens is not None else DEFAULT_INPUT_TOKENS


def _rows(
    policies: PolicySet,
    ctx: TaskContext,
    verdicts: tuple[PolicyEvaluation, ...],
    decision: RoutingDecision,
) -> tuple[PolicyEvaluation, ...]:
    """Per candidate (decision order, then replacements), every policy's verdict."""
    judged = {(v.policy, v.candidate): v for v in verdicts}
    candidates = list(
        dict.fromkeys(itertools.chain(decision.candidates, (v.candidate for v in verdicts)))
    )
    rows: list[PolicyEvaluation] = []
    for candidate in candidates:
        stopped = False
        for policy in policies.policies:
            why_not = policy.when.why_not(ctx)
            if why_not is not None:
                rows.append(PolicyEvaluation(policy.name, candidate, "not_applicable", why_not))
                continue
            verdict = judged.get((policy.name, candidate))
            if verdict is None:
                if stopped:
                    row = PolicyEvaluation(
                        policy.name, candidate, "not_reached", "an earlier policy decided"
                    )
                else:
                    row = PolicyEvaluation(policy.name, candidate, "allow")
                rows.append(row)
                continue
            rows.append(verdict)
            stopped = stopped or verdict.verdict in ("deny", "replace")
    return tuple(rows)


def policy_to_dict(view: PolicyView) -> dict[str, Any]:
    decision = view.decision
    return {
        "model": None if decision is None else str(decision.model),
        "fallback_chain": [] if decision is None else [str(m) for m in decision.fallback_chain],
        "denied": view.denied is not None,
        "error": None if view.denied is None else view.denied.message,
        "evaluations": [
            {
                "policy": row.policy,
                "candidate": str(row.candidate),
                "verdict": row.verdict,
                "reason": row.reason,
                "replacement": None if row.replacement is None else str(row.replacement),
            }
            for row in view.rows
        ],
    }


_STYLES = {
    "allow": "green",
    "deny": "red",
    "replace": "yellow",
    "not_applicable": "dim",
    "not_reached": "dim",
}


def print_policies(console: Console, view: PolicyView, *, explain: bool) -> None:
    if view.decision is None:
        console.print(Text(f"policies: {view.denied}", style="bold red"))
    elif view.decision.policy and any(r.verdict != "allow" for r in view.decision.policy):
        chain = " → ".join(str(m) for m in view.decision.fallback_chain) or "(none)"
        console.print(
            Text(f"after policies: {view.decision.model}, then {chain}", style="bold yellow")
        )
    if not explain:
        return
    table = Table(title="policies evaluated", title_justify="left")
    for column in ("candidate", "policy", "verdict", "why"):
        table.add_column(column)
    for row in view.rows:
        verdict = row.verdict.replace("_", " ")
        if row.replacement is not None:
            verdict += f" → {row.replacement}"
        table.add_row(
            str(row.candidate),
            row.policy,
            Text(verdict, style=_STYLES.get(row.verdict, "")),
            Text(row.reason),
        )
    console.print(table)
