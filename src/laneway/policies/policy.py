"""One compiled policy: its conditions and its per-candidate checks.

The checks a policy needs are chosen at compile time (a policy that only caps
prices runs one check, not seven). A check returns None to allow, or the
reason it denies; allowing builds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from laneway.config.schema import PolicySpec
from laneway.policies.conditions import Conditions, compile_conditions
from laneway.policies.globs import ModelGlobs
from laneway.types import Capability, ModelInfo


@dataclass(frozen=True, slots=True)
class BudgetFacts:
    """What budget escalation needs of a request: the limit and the worst-case bounds
    a budget reserves (`budgets.bound`): input tokens, the client's max_tokens (None:
    not set, so the lane's `max_output_tokens` or the default bound applies)."""

    limit_usd: float
    tokens_in: int
    max_tokens: int | None = None
    lane_max: int | None = None


Check = Callable[[ModelInfo, BudgetFacts | None], str | None]


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    name: str
    index: int
    when: Conditions
    spec: PolicySpec
    checks: tuple[Check, ...] = ()
    hook: str | None = None
    hook_timeout_s: float = 0.25

    @property
    def blocks_on_budget(self) -> bool:
        return self.spec.on_budget_miss == "block"

    def check(self, info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        """Why this policy's declarative actions deny `info`, or None (its hook runs apart)."""
        for check in self.checks:
            reason = check(info, budget)
            if reason is not None:
                return reason
        return None


def compile_policy(spec: PolicySpec, index: int) -> Policy:
    return Policy(
        name=spec.name,
        index=index,
        when=compile_conditions(spec.when),
        spec=spec,
        checks=tuple(_checks(spec)),
        hook=spec.hook,
        hook_timeout_s=spec.hook_timeout_s,
    )


def _checks(spec: PolicySpec) -> list[Check]:
    checks: list[Check] = []
    if spec.allow_providers is not None:
        checks.append(_allow_providers(frozenset(spec.allow_providers)))
    if spec.deny_providers is not None:
        checks.append(_deny_providers(frozenset(spec.deny_providers)))
    if spec.allow_models is not None:
        checks.append(_allow_models(ModelGlobs(spec.allow_models)))
    if spec.deny_models is not None:
        checks.append(_deny_models(ModelGlobs(spec.deny_models)))
    cap = spec.max_price_usd_per_mtok
    if cap is not None and (cap.input is not None or cap.output is not None):
        checks.append(_price_cap(cap.input, cap.output, deny_unpriced=spec.unpriced == "deny"))
    if spec.requires:
        checks.append(_requires(frozenset(spec.requires)))
    if spec.on_budget_miss == "block":
        checks.append(_within_budget)
    return checks


def _allow_providers(allowed: frozenset[str]) -> Check:
    shown = ", ".join(sorted(allowed))

    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        if info.ref.provider in allowed:
            return None
        return f"provider {info.ref.provider!r} is not allowed (allowed: {shown})"

    return check


def _deny_providers(denied: frozenset[str]) -> Check:
    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        if info.ref.provider not in denied:
            return None
        return f"provider {info.ref.provider!r} is denied"

    return check


def _allow_models(globs: ModelGlobs) -> Check:
    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        if globs.matches(info.ref):
            return None
        return f"{info.ref} matches none of the allowed models ({', '.join(globs.globs)})"

    return check


def _deny_models(globs: ModelGlobs) -> Check:
    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        if not globs.matches(info.ref):
            return None
        return f"{info.ref} matches a denied model ({', '.join(globs.globs)})"

    return check


def _price_cap(max_input: float | None, max_output: float | None, *, deny_unpriced: bool) -> Check:
    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        price = info.price
        if price is None:
            return f"{info.ref} has no known price (unpriced: deny)" if deny_unpriced else None
        if max_input is not None and price.input > max_input:
            return f"input price ${price.input:g}/Mtok is over the ${max_input:g} cap"
        if max_output is not None and price.output > max_output:
            return f"output price ${price.output:g}/Mtok is over the ${max_output:g} cap"
        return None

    return check


def _requires(required: frozenset[Capability]) -> Check:
    def check(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
        if required <= info.capabilities:
            return None
        missing = ", ".join(sorted(c.value for c in required - info.capabilities))
        return f"{info.ref} lacks {missing}"

    return check


def _within_budget(info: ModelInfo, budget: BudgetFacts | None) -> str | None:
    """Budget escalation: a worst case over the limit blocks; an unknown price cannot be judged."""
    if budget is None or info.price is None:
        return None
    tokens_out = info.output_bound(budget.max_tokens, budget.lane_max)
    cost = info.price.cost_usd(budget.tokens_in, tokens_out)
    if cost <= budget.limit_usd:
        return None
    return f"est. ${cost:.4f} is over the ${budget.limit_usd:.4f} budget (on_budget_miss: block)"
