"""Static routing: first matching rule wins, else the lane; every rule evaluated is explained."""

from __future__ import annotations

import pytest
from routing_config import routing_config

from laneway.config import ConfigError
from laneway.errors import RoutingExhaustedError
from laneway.routing import StaticRoutingProvider
from laneway.types import Capability, Complexity, ModelRef, TaskContext

ROUTER = StaticRoutingProvider(routing_config())
OPUS = ModelRef("anthropic", "claude-opus-4-5")
SONNET = ModelRef("anthropic", "claude-sonnet-4-5")
HAIKU = ModelRef("anthropic", "claude-haiku-4-5")
GLM = ModelRef("zai", "glm-4.7")
ECHO = ModelRef("local", "echo")


def test_no_match_gives_lane_primary_and_fallback() -> None:
    decision = ROUTER.route(TaskContext("coding", phase="build"))
    assert decision.model == GLM
    assert decision.fallback_chain == (SONNET, ECHO)
    assert decision.rule_index is None
    assert decision.method == "static"
    assert "no rule matched (21 evaluated); lane 'coding' default -> zai/glm-4.7" in (
        decision.reasoning
    )
    assert len(decision.explanation) == 21
    assert not any(e.matched for e in decision.explanation)


def test_matching_rule_names_its_index_and_conditions() -> None:
    ctx = TaskContext("planning", phase="plan", complexity=Complexity.HIGH)
    decision = ROUTER.route(ctx)
    assert decision.model == OPUS
    assert decision.rule_index == 0
    assert decision.reasoning.startswith(
        "rule routing.rules[0] matched (lane=planning, phase=plan, complexity=high)"
    )
    assert decision.fallback_chain == (SONNET, GLM)
    assert [e.matched for e in decision.explanation] == [True]


def test_first_match_wins_and_later_rules_are_not_evaluated() -> None:
    ctx = TaskContext("review", phase="p3", complexity=Complexity.LOW)
    decision = ROUTER.route(ctx)
    assert decision.rule_index == 9  # rule 20 (complexity low) also matches, later
    assert decision.model == GLM
    assert len(decision.explanation) == 10


def test_list_condition_means_any_of_and_rule_fallback_is_the_chain() -> None:
    decision = ROUTER.route(TaskContext("coding", phase="architecture"))
    assert (decision.model, decision.fallback_chain) == (OPUS, (SONNET,))


def test_metadata_job_and_prompt_version_conditions() -> None:
    ctx = TaskContext("review", metadata={"team": "infra", "urgent": "true"})
    assert ROUTER.route(ctx).model == HAIKU
    assert ROUTER.route(TaskContext("review", job_id="job-42")).rule_index == 4
    assert ROUTER.route(TaskContext("review", prompt_version="v2")).model == ModelRef(
        "zai", "glm-4.6"
    )
    partial = ROUTER.route(TaskContext("review", metadata={"team": "infra"}))
    assert partial.rule_index is None


def test_explanation_says_why_each_rule_failed() -> None:
    decision = ROUTER.route(TaskContext("coding", phase="build", metadata={"team": "web"}))
    why = {e.index: e.why for e in decision.explanation}
    assert why[0] == "lane is 'coding', rule wants 'planning'"
    assert why[1] == "phase is 'build', rule wants any of 'design', 'architecture'"
    assert why[3] == "team is 'web', rule wants 'infra'"
    assert why[4] == "no job_id given, rule wants 'job-42'"


def test_rule_whose_model_lacks_a_requirement_is_passed_over() -> None:
    ctx = TaskContext("review", phase="vision-task", requires=frozenset({Capability.VISION}))
    decision = ROUTER.route(ctx)
    rule_2 = decision.explanation[2]
    assert not rule_2.matched
    assert "zai/glm-4.7 lacks vision; passed over" in rule_2.why
    assert decision.model == SONNET
    assert decision.fallback_chain == ()  # glm lacks vision
    assert "skipped zai/glm-4.7 (lacks vision)" in decision.reasoning


def test_context_requirements_filter_the_chain() -> None:
    ctx = TaskContext("coding", requires=frozenset({Capability.TOOLS}))
    decision = ROUTER.route(ctx)
    assert decision.candidates == (GLM, SONNET)
    assert "skipped local/echo (lacks tools)" in decision.reasoning


def test_no_capable_model_raises_exhausted_with_skips() -> None:
    ctx = TaskContext(
        "coding", phase="build", requires=frozenset({Capability.VISION}), complexity=Complexity.LOW
    )
    decision = ROUTER.route(ctx)
    assert decision.model == SONNET
    router = StaticRoutingProvider(
        routing_config(lanes={"only": {"primary": "local/echo"}}, routing={"rules": []})
    )
    with pytest.raises(RoutingExhaustedError) as caught:
        router.route(TaskContext("only", requires=frozenset({Capability.VISION})))
    assert caught.value.codes == ("missing_capability",)
    assert "local/echo (lacks vision)" in str(caught.value)


def test_unknown_lane_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown lane"):
        ROUTER.route(TaskContext("nope"))
