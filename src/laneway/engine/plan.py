"""Which of a decision's models may be tried for this request, and why the others may not.

Pure: capability and credential facts come in, candidates and skips go out.
Breaker and budget checks need the state store, so the attempt loop makes them.
What `policies:` changed (engine/policy_review.py, before the plan) comes first,
as `policy_denied:<name>` / `policy_replaced:<name>` skips: policies are judged
before keys and capabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from laneway.config.model import Config, Lane
from laneway.types import (
    Capability,
    CompletionRequest,
    ImagePart,
    Message,
    ModelInfo,
    ModelRef,
    PolicyEvaluation,
    RoutingDecision,
    TaskContext,
)


@dataclass(frozen=True, slots=True)
class Candidate:
    model: ModelRef
    info: ModelInfo


@dataclass(frozen=True, slots=True)
class Skip:
    model: ModelRef
    reason: str  # not_configured | missing_capability | circuit_open | over_budget | ...
    detail: str = ""


def required_capabilities(
    request: CompletionRequest, ctx: TaskContext, lane: Lane, *, streaming: bool
) -> frozenset[Capability]:
    """What the lane, the caller and the request itself need of a model.

    Most requests need only what the lane does: then it is the lane's own set,
    whose hash is computed once (the plan cache's key holds it).
    """
    needed = lane.requires | ctx.requires if ctx.requires else lane.requires
    more: list[Capability] = []
    if request.tools:
        more.append(Capability.TOOLS)
    if request.response_format is not None and request.response_format.type == "json_schema":
        more.append(Capability.JSON_SCHEMA)
    if _has_image(request.messages):
        more.append(Capability.VISION)
    if streaming:
        more.append(Capability.STREAMING)
    return needed.union(more) if more else needed


def _has_image(messages: tuple[Message, ...]) -> bool:
    # loops, not any(genexpr): a generator is a call of its own, on every request
    for message in messages:
        content = message.content
        if not isinstance(content, str):
            for part in content:
                if isinstance(part, ImagePart):
                    return True
    return False


def plan_candidates(
    decision: RoutingDecision,
    config: Config,
    required: frozenset[Capability],
    credential_problem: Callable[[str], str | None],
    info_for: Callable[[ModelRef], ModelInfo],
) -> tuple[list[Candidate], list[Skip]]:
    """Candidates in decision order (never repeated), and each skipped model with its reason."""
    candidates: list[Candidate] = []
    skips: list[Skip] = [] if not decision.policy else policy_skips(decision.policy)
    seen: set[ModelRef] = set()
    for model in decision.candidates:
        if model in seen:
            continue
        seen.add(model)
        if model.provider not in config.providers:
            skips.append(Skip(model, "not_configured", f"no provider {model.provider!r}"))
            continue
        problem = credential_problem(model.provider)
        if problem is not None:
            skips.append(Skip(model, "not_configured", problem))
            continue
        info = info_for(model)
        missing = required - info.capabilities
        if missing:
            names = ", ".join(sorted(c.value for c in missing))
            skips.append(Skip(model, "missing_capability", f"lacks {names}"))
            continue
        candidates.append(Candidate(model, info))
    return candidates, skips


def policy_skip_reason(change: PolicyEvaluation) -> str:
    """The trace's word for a policy's change: `policy_denied:<name>`, `policy_replaced:<name>`."""
    word = "policy_denied" if change.verdict == "deny" else "policy_replaced"
    return f"{word}:{change.policy}"


def policy_skips(changes: tuple[PolicyEvaluation, ...]) -> list[Skip]:
    """A skip per candidate a policy denied or replaced, in evaluation order."""
    return [
        Skip(c.candidate, policy_skip_reason(c), c.reason)
        for c in changes
        if c.verdict == "deny" or c.verdict == "replace"
    ]
