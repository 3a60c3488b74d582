"""Budget-aware selection: cheaper model when over budget; the cheapest when nothing fits."""

from __future__ import annotations

from routing_config import routing_config

from laneway.routing import StaticRoutingProvider
from laneway.routing.selection import DEFAULT_INPUT_TOKENS, select
from laneway.types import DEFAULT_MAX_OUTPUT_TOKENS, ModelInfo, ModelRef, Price, TaskContext

ROUTER = StaticRoutingProvider(routing_config())
OPUS = ModelRef("anthropic", "claude-opus-4-5")
HAIKU = ModelRef("anthropic", "claude-haiku-4-5")
TINY = ModelRef("cheap", "tiny")
MYSTERY = ModelRef("cheap", "mystery")
GLM = ModelRef("zai", "glm-4.7")


def test_the_estimate_is_the_worst_case_the_engine_sends() -> None:
    decision = ROUTER.route(TaskContext("review", phase="none"))
    expected = (3.0 * DEFAULT_INPUT_TOKENS + 15.0 * DEFAULT_MAX_OUTPUT_TOKENS) / 1_000_000
    assert decision.estimated_cost_usd == expected


def test_the_clients_max_tokens_bounds_the_estimate() -> None:
    decision = ROUTER.route(TaskContext("review", phase="none"), max_tokens=100)
    assert decision.estimated_cost_usd == (3.0 * DEFAULT_INPUT_TOKENS + 15.0 * 100) / 1_000_000


def test_over_lane_budget_takes_first_cheaper_model_that_fits() -> None:
    decision = ROUTER.route(TaskContext("cheap"), max_tokens=1000)
    # opus worst case $0.03 > $0.01; mystery has no price; haiku's $0.006 fits.
    assert decision.model == HAIKU
    assert decision.fallback_chain == (MYSTERY, TINY, OPUS)
    assert "over the $0.0100 budget; took anthropic/claude-haiku-4-5" in decision.reasoning
    assert decision.reasoning.count("budget downgrade:") == 1


def test_context_budget_tightens_the_lane_budget() -> None:
    decision = ROUTER.route(TaskContext("cheap", budget_remaining_usd=0.001))
    assert decision.model == TINY
    decision = ROUTER.route(TaskContext("coding", phase="x", budget_remaining_usd=0.001))
    assert decision.model == ModelRef("local", "echo")


def test_nothing_fits_takes_the_cheapest_and_says_so() -> None:
    decision = ROUTER.route(TaskContext("cheap"), input_tokens=2_000_000)
    assert decision.model == TINY
    assert "no candidate's worst case fits the $0.0100 budget; took the cheapest, cheap/tiny" in (
        decision.reasoning
    )


def test_one_model_over_budget_is_not_a_downgrade() -> None:
    catalog = {TINY: ModelInfo(TINY, frozenset(), price=Price(1.0, 1.0))}
    selection = select([TINY], catalog, limit_usd=0.0, tokens_in=10)
    assert selection.model == TINY
    assert not any("budget downgrade" in note for note in selection.notes)


def test_within_budget_keeps_the_first_model() -> None:
    decision = ROUTER.route(TaskContext("coding", phase="x"), input_tokens=10)
    assert decision.model == GLM
    assert "budget" not in decision.reasoning


def test_unknown_price_is_never_switched_away_from() -> None:
    catalog = {
        MYSTERY: ModelInfo(MYSTERY, frozenset()),
        TINY: ModelInfo(TINY, frozenset(), price=Price(0.01, 0.01)),
    }
    selection = select([MYSTERY, TINY], catalog, limit_usd=0.0, tokens_in=10)
    assert selection.model == MYSTERY
    assert selection.estimated_cost_usd is None
