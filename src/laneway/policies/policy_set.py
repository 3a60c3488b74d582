"""All configured policies, compiled once: which apply to a request, which deny a candidate.

The engine asks `applicable(ctx)` once per request (conditions depend only on
the context), then `first_denial` per candidate. With no policy applying, the
answer is a shared empty tuple and the per-candidate loop never runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from laneway.config.schema import PolicySpec
from laneway.policies.policy import BudgetFacts, Policy, compile_policy
from laneway.types import ModelInfo, ModelRef, PolicyEvaluation, TaskContext

_NONE: tuple[Policy, ...] = ()
#: distinct (applicable policies, candidates) reviews remembered; config makes them few
_REVIEW_CACHE_SIZE = 4096

Reviewed = tuple[tuple[ModelRef, ...], tuple[PolicyEvaluation, ...]]


class PolicySet:
    __slots__ = ("_always", "_reviews", "has_hooks", "policies")

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = tuple(policies)
        self._reviews: dict[tuple[tuple[Policy, ...], tuple[ModelRef, ...]], Reviewed] = {}
        #: when no policy has conditions, every request gets this same tuple
        self._always = self.policies if all(p.when.always for p in self.policies) else None
        self.has_hooks = any(p.hook is not None for p in self.policies)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    def applicable(self, ctx: TaskContext) -> tuple[Policy, ...]:
        """The policies whose `when:` holds for `ctx`, in config order."""
        if self._always is not None:
            return self._always
        matched: list[Policy] | None = None
        for policy in self.policies:
            if policy.when.matches(ctx):
                if matched is None:
                    matched = []
                matched.append(policy)
        return _NONE if matched is None else tuple(matched)

    def review(
        self,
        applicable: tuple[Policy, ...],
        candidates: tuple[ModelRef, ...],
        info_for: Callable[[ModelRef], ModelInfo],
    ) -> Reviewed:
        """(allowed candidates, denials) under declarative policies and no budget limit.

        The answer depends only on the policies and the candidates' catalog facts,
        so it is remembered: a request routed like an earlier one costs a lookup.
        """
        key = (applicable, candidates)
        reviewed = self._reviews.get(key)
        if reviewed is None:
            if len(self._reviews) >= _REVIEW_CACHE_SIZE:
                self._reviews.clear()
            reviewed = self._reviews[key] = review_declarative(
                applicable, candidates, info_for, None
            )
        return reviewed


def review_declarative(
    applicable: Sequence[Policy],
    candidates: Sequence[ModelRef],
    info_for: Callable[[ModelRef], ModelInfo],
    budget: BudgetFacts | None,
) -> Reviewed:
    """Each candidate judged by the declarative policies: (the allowed ones, the denials)."""
    kept: list[ModelRef] = []
    denials: list[PolicyEvaluation] = []
    for model in candidates:
        denial = first_denial(applicable, info_for(model), budget)
        if denial is None:
            if model not in kept:
                kept.append(model)
        else:
            denials.append(PolicyEvaluation(denial[0].name, model, "deny", denial[1]))
    return tuple(kept), tuple(denials)


def compile_policies(specs: Sequence[PolicySpec]) -> PolicySet:
    """Compile once at load: conditions to sets, globs to one regex each, checks chosen."""
    return PolicySet([compile_policy(spec, index) for index, spec in enumerate(specs)])


def needs_budget(policies: Sequence[Policy]) -> bool:
    return any(policy.blocks_on_budget for policy in policies)


def first_denial(
    policies: Sequence[Policy], info: ModelInfo, budget: BudgetFacts | None
) -> tuple[Policy, str] | None:
    """The first declarative denial of `info` by `policies`, or None (hooks run apart)."""
    for policy in policies:
        for check in policy.checks:  # inlined `Policy.check`: a call less per policy
            reason = check(info, budget)
            if reason is not None:
                return policy, reason
    return None
