"""Properties of static routing over generated contexts (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from routing_config import routing_config

from laneway.errors import RoutingExhaustedError
from laneway.routing import StaticRoutingProvider
from laneway.types import Capability, Complexity, RoutingDecision, TaskContext

CONFIG = routing_config()
ROUTER = StaticRoutingProvider(CONFIG)

contexts = st.builds(
    TaskContext,
    lane=st.sampled_from(sorted(CONFIG.lanes)),
    phase=st.none() | st.sampled_from(["plan", "design", "vision-task", "p3", "p13", "x"]),
    complexity=st.none() | st.sampled_from(list(Complexity)),
    job_id=st.none() | st.sampled_from(["job-42", "job-7"]),
    prompt_version=st.none() | st.sampled_from(["v1", "v2"]),
    budget_remaining_usd=st.none() | st.floats(min_value=0, max_value=1, allow_nan=False),
    requires=st.frozensets(st.sampled_from(list(Capability)), max_size=2),
    metadata=st.dictionaries(
        st.sampled_from(["team", "urgent"]), st.sampled_from(["infra", "web", "true"])
    ),
)
tokens = st.none() | st.integers(min_value=1, max_value=3_000_000)


@given(contexts, tokens)
def test_same_context_same_decision(ctx: TaskContext, input_tokens: int | None) -> None:
    try:
        first = ROUTER.route(ctx, input_tokens=input_tokens)
    except RoutingExhaustedError:
        return
    assert ROUTER.route(ctx, input_tokens=input_tokens) == first
    assert StaticRoutingProvider(CONFIG).route(ctx, input_tokens=input_tokens) == first


@given(contexts, tokens)
def test_chain_never_repeats_nor_contains_the_choice(
    ctx: TaskContext, input_tokens: int | None
) -> None:
    try:
        decision = ROUTER.route(ctx, input_tokens=input_tokens)
    except RoutingExhaustedError:
        return
    assert decision.model not in decision.fallback_chain
    assert len(set(decision.fallback_chain)) == len(decision.fallback_chain)


@given(contexts, tokens)
def test_every_model_meets_lane_and_context_requirements(
    ctx: TaskContext, input_tokens: int | None
) -> None:
    required = CONFIG.lane(ctx.lane).requires | ctx.requires
    outcome = _route(ctx, input_tokens)
    if isinstance(outcome, RoutingExhaustedError):
        assert all(a.code == "missing_capability" for a in outcome.attempts)
        assert not any(CONFIG.model_info(a.model).supports(required) for a in outcome.attempts)
        return
    for ref in outcome.candidates:
        assert CONFIG.model_info(ref).supports(required)


def _route(ctx: TaskContext, input_tokens: int | None) -> RoutingDecision | RoutingExhaustedError:
    try:
        return ROUTER.route(ctx, input_tokens=input_tokens)
    except RoutingExhaustedError as exc:
        return exc
