"""llm_enhanced routing, the pure half: the prompt, the cost check, the reply's judgement.

A small routing model reads the task (phase, complexity, description,
remaining budget) and the lane's candidate models (price, context window,
capabilities) and answers `{model, reasoning, estimated_tokens}`. This module
decides everything that needs no I/O; the engine (`engine/enhanced.py`) makes
the call, reads and writes the decision cache and records the `RoutingCall`.

The static router always decides first: its decision is the fallback whenever
the routing model is skipped, fails or gives a reply we cannot use, so a
routing failure can never fail the request. The reply is trusted only after
checks: valid JSON matching `REPLY_SCHEMA` (even when the provider enforced a
schema), a model that is one of the lane's candidates, and one that has what
the lane and the context require and a window large enough for the prompt.

The call's cost is bounded before it is made: the prompt's estimated input
tokens plus the reply's `max_tokens` cap, at the routing model's catalog
price. Over `max_routing_cost_usd`, or with no known price, the call is
skipped: a bound we cannot compute is not a bound.

Decisions are cached per task context — lane, phase, complexity, the sha256 of
the description and the remaining budget in buckets of `budget_bucket_usd` —
so retries and repeated tasks are not re-routed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from laneway.config.model import Config, Lane
from laneway.config.schema import LlmEnhancedSpec
from laneway.errors import ConfigError
from laneway.routing.base import RoutingProvider
from laneway.routing.selection import (
    ASSUMED_OUTPUT_TOKENS,
    DEFAULT_INPUT_TOKENS,
    estimate_cost,
    filter_capable,
    lacking,
    names,
)
from laneway.types import (
    Capability,
    CompletionRequest,
    Message,
    ModelRef,
    ResponseFormat,
    RoutingDecision,
    TaskContext,
)

METHOD = "llm_enhanced"
#: The reply's output cap: a model name, a sentence or two of reasoning and a number.
REPLY_MAX_TOKENS = 300
CACHE_PREFIX = "llm_route:v1:"
#: The prompt-size estimate is ~4 characters a token; JSON tokenizes denser, and
#: providers add tokens of their own for structured output (Anthropic's forced
#: tool, for one), so the cost bound pads the estimate.
INPUT_TOKEN_FACTOR = 1.3
STRUCTURED_OUTPUT_TOKENS = 400

REPLY_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "model": {
            "type": "string",
            "description": "the chosen candidate, exactly as listed (provider/model)",
        },
        "reasoning": {"type": "string", "description": "one or two sentences: why this model"},
        "estimated_tokens": {
            "type": "integer",
            "description": "expected length of the answer, in output tokens",
        },
    },
    "required": ["model", "reasoning", "estimated_tokens"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = (
    "You route tasks to language models. Pick the cheapest candidate that will do the "
    "task well: strong models for hard or high-stakes tasks, cheap ones for easy tasks, "
    "and never one whose estimated cost passes the remaining budget when a cheaper "
    "candidate can do the task. Answer with one JSON object only: "
    '{"model": "<provider/model, one of the candidates>", "reasoning": "<why, briefly>", '
    '"estimated_tokens": <expected answer length in tokens>}.'
)


@dataclass(frozen=True, slots=True)
class RoutingReply:
    """A reply that passed every check."""

    model: ModelRef
    reasoning: str
    estimated_tokens: int


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    """Everything about one routing call that is known before making it.

    `skip_reason` is set when the call must not be made (cost over the cap,
    unknown price, nothing to choose); `static` is the fallback decision.
    """

    routing_model: ModelRef
    spec: LlmEnhancedSpec
    request: CompletionRequest
    lane_models: tuple[ModelRef, ...]
    candidates: tuple[ModelRef, ...]  # lane_models that have what the task requires
    required: frozenset[Capability]
    input_tokens: int
    static: RoutingDecision
    cache_key: str
    estimated_cost_usd: float | None
    skip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a reply (fresh or cached) led to: the decision, and why."""

    decision: RoutingDecision
    accepted: bool
    reason: str
    reply: RoutingReply | None = None


class EnhancedRouter:
    """Plans routing calls and judges their replies; `route` is the no-call fallback.

    `route` satisfies `RoutingProvider` (for `Gateway.route` and guards, which
    make no call): it is the static decision.
    """

    uses_input_tokens = True

    def __init__(self, config: Config, fallback: RoutingProvider) -> None:
        spec = config.spec.routing.llm_enhanced
        if spec is None:
            raise ConfigError(
                "routing method llm_enhanced needs an `llm_enhanced:` section",
                file=config.source,
                path="routing.llm_enhanced",
                hint="add `llm_enhanced: {routing_model: anthropic/claude-haiku-4-5}`",
            )
        self._config = config
        self._spec = spec
        self._fallback = fallback
        self.routing_model = ModelRef.parse(spec.routing_model)

    def route(
        self, ctx: TaskContext, *, input_tokens: int | None = None, max_tokens: int | None = None
    ) -> RoutingDecision:
        return self._fallback.route(ctx, input_tokens=input_tokens, max_tokens=max_tokens)

    def plan(self, ctx: TaskContext, *, input_tokens: int | None = None) -> RoutingPlan:
        """The static decision, the prompt, its cost estimate and cache key, or why to skip."""
        static = self._fallback.route(ctx, input_tokens=input_tokens)
        lane = self._config.lane(ctx.lane)
        tokens = DEFAULT_INPUT_TOKENS if input_tokens is None else input_tokens
        required = lane.requires | ctx.requires
        candidates, _ = filter_capable(lane.candidates, required, self._config.catalog)
        structured = (
            Capability.JSON_SCHEMA in self._config.model_info(self.routing_model).capabilities
        )
        request = build_prompt(self._config, ctx, lane, candidates, tokens, structured=structured)
        cost = estimate_cost(
            self.routing_model,
            self._config.catalog,
            bounded_input_tokens(request),
            REPLY_MAX_TOKENS,
        )
        return RoutingPlan(
            routing_model=self.routing_model,
            spec=self._spec,
            request=request,
            lane_models=lane.candidates,
            candidates=candidates,
            required=required,
            input_tokens=tokens,
            static=static,
            cache_key=cache_key(ctx, remaining_budget(ctx, lane), self._spec.budget_bucket_usd),
            estimated_cost_usd=cost,
            skip_reason=self._skip_reason(candidates, cost),
        )

    def _skip_reason(self, candidates: Sequence[ModelRef], cost: float | None) -> str | None:
        cap = self._spec.max_routing_cost_usd
        if len(candidates) < 2:
            return "the lane has fewer than two capable candidates: nothing to choose"
        if cost is None:
            return (
                f"the price of routing model {self.routing_model} is unknown, so the "
                f"{_usd(cap)} cap cannot be checked; set its price under providers"
            )
        if cost > cap:
            return f"estimated routing cost {_usd(cost)} is over max_routing_cost_usd {_usd(cap)}"
        return None

    def judge(self, plan: RoutingPlan, text: str) -> Verdict:
        """Use the reply when it passes every check; else the static decision, reason appended."""
        reply = parse_reply(text, plan.candidates)
        if isinstance(reply, str):
            return self.fallback(plan, reply)
        problem = self._problem(plan, reply.model)
        if problem is not None:
            return self.fallback(plan, problem, reply)
        return Verdict(self._decision(plan, reply), True, f"chose {reply.model}", reply)

    def fallback(
        self, plan: RoutingPlan, reason: str, reply: RoutingReply | None = None
    ) -> Verdict:
        """The static decision, with why the routing model did not decide appended."""
        reasoning = f"{plan.static.reasoning}; llm_enhanced: {reason}, static routing decided"
        return Verdict(replace(plan.static, reasoning=reasoning), False, reason, reply)

    def _problem(self, plan: RoutingPlan, model: ModelRef) -> str | None:
        if model not in plan.lane_models:
            shown = ", ".join(str(c) for c in plan.lane_models)
            return f"{model} is not a candidate of the lane (candidates: {shown})"
        missing = lacking(model, plan.required, self._config.catalog)
        if missing:
            return f"{model} lacks {names(missing)}, which the task requires"
        window = self._config.model_info(model).context_window
        if window is not None and window < plan.input_tokens:
            return f"{model}'s context window ({window}) is smaller than the prompt"
        return None

    def _decision(self, plan: RoutingPlan, reply: RoutingReply) -> RoutingDecision:
        chosen = reply.model
        chain = [ref for ref in plan.static.candidates if ref != chosen]
        chain += [ref for ref in plan.candidates if ref != chosen and ref not in chain]
        tokens_out = reply.estimated_tokens or ASSUMED_OUTPUT_TOKENS
        return RoutingDecision(
            model=chosen,
            fallback_chain=tuple(chain),
            reasoning=f"routing model {plan.routing_model} chose {chosen}: {reply.reasoning}",
            method=METHOD,
            estimated_cost_usd=estimate_cost(
                chosen, self._config.catalog, plan.input_tokens, tokens_out
            ),
        )


# -- the prompt -------------------------------------------------------------------


def build_prompt(
    config: Config,
    ctx: TaskContext,
    lane: Lane,
    candidates: Sequence[ModelRef],
    input_tokens: int,
    *,
    structured: bool,
) -> CompletionRequest:
    """The structured routing prompt: the task and the candidates, as JSON.

    `structured`: the routing model supports a JSON schema, so the request asks
    for one (the reply is validated in every case).
    """
    task = {
        "lane": lane.name,
        "phase": ctx.phase,
        "complexity": None if ctx.complexity is None else str(ctx.complexity),
        "description": ctx.description,
        "remaining_budget_usd": remaining_budget(ctx, lane),
        "prompt_tokens_estimate": input_tokens,
        "required_capabilities": sorted(str(c) for c in lane.requires | ctx.requires),
    }
    listed = [_candidate(config, ref, input_tokens) for ref in candidates]
    body = json.dumps({"task": task, "candidates": listed}, indent=1, ensure_ascii=False)
    return CompletionRequest(
        messages=(
            Message("system", SYSTEM_PROMPT),
            Message("user", f"Choose the model for this task.\n{body}"),
        ),
        response_format=(
            ResponseFormat("json_schema", REPLY_SCHEMA, name="routing_decision")
            if structured
            else None
        ),
        temperature=0.0,
        max_tokens=REPLY_MAX_TOKENS,
    )


def _candidate(config: Config, ref: ModelRef, input_tokens: int) -> dict[str, Any]:
    info = config.model_info(ref)
    price = info.price
    return {
        "model": str(ref),
        "usd_per_million_input_tokens": None if price is None else price.input,
        "usd_per_million_output_tokens": None if price is None else price.output,
        "estimated_cost_usd": estimate_cost(
            ref, config.catalog, input_tokens, ASSUMED_OUTPUT_TOKENS
        ),
        "context_window": info.context_window,
        "capabilities": sorted(str(c) for c in info.capabilities),
    }


def bounded_input_tokens(request: CompletionRequest) -> int:
    """A generous bound on the routing prompt's input tokens, for the cost cap."""
    return math.ceil(request.estimated_input_tokens() * INPUT_TOKEN_FACTOR) + (
        STRUCTURED_OUTPUT_TOKENS if request.response_format is not None else 0
    )


def remaining_budget(ctx: TaskContext, lane: Lane) -> float | None:
    """The lower of the context's remaining budget and the lane's per-task budget."""
    lane_usd = lane.spec.budget.usd_per_task if lane.spec.budget else None
    values = [v for v in (ctx.budget_remaining_usd, lane_usd) if v is not None]
    return min(values) if values else None


def cache_key(ctx: TaskContext, budget_usd: float | None, bucket_usd: float) -> str:
    """Equal for task contexts the routing model would see as the same task."""
    description = hashlib.sha256((ctx.description or "").encode()).hexdigest()
    bucket = "none" if budget_usd is None else str(math.floor(budget_usd / bucket_usd))
    parts = [ctx.lane, ctx.phase or "", str(ctx.complexity or ""), description, bucket]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return CACHE_PREFIX + digest


# -- the reply --------------------------------------------------------------------


def parse_reply(text: str, candidates: Sequence[ModelRef]) -> RoutingReply | str:
    """The reply checked against `REPLY_SCHEMA`, or why it cannot be used."""
    import jsonschema

    try:
        data = json.loads(_unfenced(text))
    except ValueError:
        return "the reply is not valid JSON"
    errors = sorted(
        jsonschema.Draft202012Validator(dict(REPLY_SCHEMA)).iter_errors(data),
        key=lambda e: list(e.path),
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "the reply"
        return f"the reply does not match the schema ({where}: {errors[0].message})"
    model = _model_ref(data["model"], candidates)
    if model is None:
        return f"the reply's model {data['model']!r} does not name a provider/model"
    return RoutingReply(model, data["reasoning"].strip(), max(0, data["estimated_tokens"]))


def _unfenced(text: str) -> str:
    """The text without one surrounding Markdown code fence, which some models add."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and len(stripped) > 6:
        stripped = stripped[3:-3]
        stripped = stripped.removeprefix("json")
    return stripped


def _model_ref(name: str, candidates: Sequence[ModelRef]) -> ModelRef | None:
    """`provider/model`, or a bare model name that matches exactly one candidate."""
    try:
        return ModelRef.parse(name)
    except ConfigError:
        matches = [ref for ref in candidates if ref.model == name.strip()]
        return matches[0] if len(matches) == 1 else None


def encode_cached(reply: RoutingReply) -> str:
    return json.dumps(
        {
            "model": str(reply.model),
            "reasoning": reply.reasoning,
            "estimated_tokens": reply.estimated_tokens,
        }
    )


def _usd(amount: float) -> str:
    """Routing calls cost fractions of a cent: six places."""
    return f"${amount:.6f}"
