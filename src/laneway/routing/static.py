"""Static routing: ordered rules, first match wins, else the lane's own models.

A rule's `when` holds conditions on `lane`, `phase`, `complexity`, `job_id`,
`prompt_version` or any `ctx.metadata` key; a list means "any of", and every
condition must hold. A rule whose model lacks a required capability is passed
over (the explanation says so) and evaluation continues. The decision's
`explanation` holds one `RuleEvaluation` per rule evaluated, in order, up to
the one that matched.

Speed: per lane, the rules are compiled once at construction (values
normalised to string sets, lane conditions decided in advance, the lane's
default candidates filtered), so a decision is a few set lookups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from laneway.config.model import Config, Lane, Rule
from laneway.routing.selection import (
    DEFAULT_INPUT_TOKENS,
    filter_capable,
    lacking,
    names,
    no_capable_model,
    select,
)
from laneway.types import Capability, ModelRef, RoutingDecision, RuleEvaluation, TaskContext

METHOD = "static"
_MAX_CACHED_MISSES = 256
_MAX_MEMO = 1024


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    allowed: frozenset[str]
    wanted: str  # as shown in explanations: "plan" or "any of plan, design"

    def why_not(self, value: str | None) -> str | None:
        """None when the condition holds, else why not."""
        if value is not None and value in self.allowed:
            return None
        got = f"{self.name} is {value!r}" if value is not None else f"no {self.name} given"
        return f"{got}, rule wants {self.wanted}"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule as seen from one lane; `static_miss` set when the lane alone rules it out.

    Explanations are values, so the ones that depend only on the rule and the
    failing value are built once and reused (`misses`, bounded): building a
    frozen dataclass per rule per call would dominate the decision's cost.
    """

    rule: Rule
    conditions: tuple[Condition, ...]
    candidates: tuple[ModelRef, ...]
    shown: str  # "phase=plan, complexity=high"
    static_miss: RuleEvaluation | None
    hit: RuleEvaluation
    misses: dict[tuple[int, str | None], RuleEvaluation] = field(default_factory=dict)

    def miss(self, position: int, value: str | None) -> RuleEvaluation:
        key = (position, value)
        found = self.misses.get(key)
        if found is None:
            why = self.conditions[position].why_not(value) or ""
            found = RuleEvaluation(self.rule.index, self.rule.when, False, why, self.rule.model)
            if len(self.misses) < _MAX_CACHED_MISSES:
                self.misses[key] = found
        return found


Evaluation = tuple[tuple[RuleEvaluation, ...], CompiledRule | None, int]


@dataclass(frozen=True, slots=True)
class LanePlan:
    """A lane's rules compiled, and a bounded memo of evaluations by context values.

    The rule evaluation depends only on the values of the attributes the rules
    name and on the required capabilities, so equal keys give equal results.
    """

    lane: Lane
    rules: tuple[CompiledRule, ...]
    attributes: tuple[str, ...]
    budget_usd: float | None
    memo: dict[tuple[tuple[str | None, ...], frozenset[Capability]], Evaluation] = field(
        default_factory=dict
    )


class StaticRoutingProvider:
    uses_input_tokens = True  # the cost estimate of every decision

    def __init__(self, config: Config, *, method: str = METHOD) -> None:
        self._config = config
        self._method = method
        self._plans = {name: _plan(lane, config.rules) for name, lane in config.lanes.items()}

    def route(
        self, ctx: TaskContext, *, input_tokens: int | None = None, max_tokens: int | None = None
    ) -> RoutingDecision:
        plan = self._plans.get(ctx.lane)
        if plan is None:
            self._config.lane(ctx.lane)  # raises the ConfigError naming the known lanes
            raise KeyError(ctx.lane)
        required = plan.lane.requires | ctx.requires if ctx.requires else plan.lane.requires
        evaluations, matched, skipped = self._evaluate(plan, ctx, required)
        if matched is not None:
            candidates = matched.candidates
            head = f"rule routing.rules[{matched.rule.index}] matched ({matched.shown})"
        else:
            candidates = plan.lane.candidates
            head = _default_reason(plan, skipped)
        kept, notes = filter_capable(candidates, required, self._config.catalog)
        if not kept:
            raise no_capable_model(ctx.lane, candidates, notes)
        selection = select(
            kept,
            self._config.catalog,
            limit_usd=_limit(plan.budget_usd, ctx.budget_remaining_usd),
            tokens_in=DEFAULT_INPUT_TOKENS if input_tokens is None else input_tokens,
            max_tokens=max_tokens,
            lane_max=plan.lane.spec.max_output_tokens,
        )
        return RoutingDecision(
            model=selection.model,
            fallback_chain=selection.chain,
            reasoning="; ".join((f"{head} -> {kept[0]}", *notes, *selection.notes)),
            method=self._method,
            estimated_cost_usd=selection.estimated_cost_usd,
            rule_index=None if matched is None else matched.rule.index,
            explanation=evaluations,
        )

    def _evaluate(
        self, plan: LanePlan, ctx: TaskContext, required: frozenset[Capability]
    ) -> Evaluation:
        """Rules in order until one matches: (evaluations, the match, how many passed over)."""
        values = tuple([ctx.attribute(name) for name in plan.attributes])
        key = (values, required)
        found = plan.memo.get(key)
        if found is None:
            found = self._evaluate_rules(
                plan, dict(zip(plan.attributes, values, strict=True)), required
            )
            if len(plan.memo) < _MAX_MEMO:
                plan.memo[key] = found
        return found

    def _evaluate_rules(
        self, plan: LanePlan, values: Mapping[str, str | None], required: frozenset[Capability]
    ) -> Evaluation:
        evaluations: list[RuleEvaluation] = []
        skipped = 0
        for compiled in plan.rules:
            miss = compiled.static_miss
            if miss is None:
                for position, condition in enumerate(compiled.conditions):
                    value = values[condition.name]
                    if value not in condition.allowed:
                        miss = compiled.miss(position, value)
                        break
            if miss is not None:
                evaluations.append(miss)
                continue
            missing = lacking(compiled.rule.model, required, self._config.catalog)
            if not missing:
                evaluations.append(compiled.hit)
                return tuple(evaluations), compiled, skipped
            rule = compiled.rule
            why = f"conditions hold, but {rule.model} lacks {names(missing)}; passed over"
            evaluations.append(RuleEvaluation(rule.index, rule.when, False, why, rule.model))
            skipped += 1
        return tuple(evaluations), None, skipped


def _plan(lane: Lane, rules: Sequence[Rule]) -> LanePlan:
    compiled = tuple(_compile(rule, lane) for rule in rules)
    attributes = sorted({c.name for r in compiled if r.static_miss is None for c in r.conditions})
    budget = lane.spec.budget.usd_per_task if lane.spec.budget else None
    return LanePlan(lane, compiled, tuple(attributes), budget)


def _compile(rule: Rule, lane: Lane) -> CompiledRule:
    conditions = [
        Condition(name, _allowed(value), _wanted(value))
        for name, value in rule.when.items()
        if name != "lane"
    ]
    chain = rule.fallback if rule.fallback is not None else lane.candidates
    candidates = _unique((rule.model, *chain))
    shown = ", ".join(f"{name}={_show(value)}" for name, value in rule.when.items())
    static_miss = None
    if "lane" in rule.when:
        lane_condition = Condition("lane", _allowed(rule.when["lane"]), _wanted(rule.when["lane"]))
        why = lane_condition.why_not(lane.name)
        if why is not None:
            static_miss = RuleEvaluation(rule.index, rule.when, False, why, rule.model)
    hit = RuleEvaluation(rule.index, rule.when, True, f"matched: {shown}", rule.model)
    return CompiledRule(rule, tuple(conditions), candidates, shown, static_miss, hit)


def _allowed(value: object) -> frozenset[str]:
    items = value if isinstance(value, list) else [value]
    allowed: set[str] = set()
    for item in items:
        if isinstance(item, bool):
            allowed |= {"true", "True"} if item else {"false", "False"}
        else:
            allowed.add(str(item))
    return frozenset(allowed)


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _wanted(value: object) -> str:
    if isinstance(value, list):
        return "any of " + ", ".join(repr(str(v)) for v in value)
    return repr(_show(value))


def _unique(refs: Sequence[ModelRef]) -> tuple[ModelRef, ...]:
    return tuple(dict.fromkeys(refs))


def _limit(lane_usd: float | None, remaining_usd: float | None) -> float | None:
    if lane_usd is None:
        return remaining_usd
    if remaining_usd is None:
        return lane_usd
    return min(lane_usd, remaining_usd)


def _default_reason(plan: LanePlan, passed_over: int) -> str:
    lane = plan.lane
    if not plan.rules:
        return f"lane {lane.name!r} default (no routing rules)"
    extra = f", {passed_over} passed over for capabilities" if passed_over else ""
    return f"no rule matched ({len(plan.rules)} evaluated{extra}); lane {lane.name!r} default"
