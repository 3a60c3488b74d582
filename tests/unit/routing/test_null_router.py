"""The null router: the lane's primary, no chain, a fixed reasoning."""

from __future__ import annotations

import pytest
from routing_config import routing_config, routing_data

from laneway.config import ConfigError, load_config
from laneway.routing import NullRoutingProvider, StaticRoutingProvider, load_routing_provider
from laneway.types import Complexity, ModelRef, TaskContext


def test_null_decision_is_lane_primary_with_empty_chain() -> None:
    router = NullRoutingProvider(routing_config())
    decision = router.route(TaskContext("coding", phase="design", complexity=Complexity.HIGH))
    assert decision.model == ModelRef("zai", "glm-4.7")
    assert decision.fallback_chain == ()
    assert decision.reasoning == "No routing configured — using lane default"
    assert decision.method == "null"
    assert decision.explanation == ()


def test_null_unknown_lane_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown lane 'nope'"):
        NullRoutingProvider(routing_config()).route(TaskContext("nope"))


def test_method_null_selects_the_null_router() -> None:
    config = routing_config(routing={"method": None, "rules": []})
    assert isinstance(load_routing_provider(config), NullRoutingProvider)


def test_nothing_to_decide_selects_the_null_router() -> None:
    config = load_config(
        {"providers": {"local": {"kind": "local"}}, "lanes": {"a": {"primary": "local/echo"}}},
        env={},
    )
    assert isinstance(load_routing_provider(config), NullRoutingProvider)


def test_rules_or_fallbacks_select_the_static_router() -> None:
    assert isinstance(load_routing_provider(routing_config()), StaticRoutingProvider)
    no_rules = routing_data(routing={"method": "static"})
    assert isinstance(load_routing_provider(load_config(no_rules, env={})), StaticRoutingProvider)


def test_llm_enhanced_falls_back_to_static_for_now() -> None:
    config = routing_config(
        routing={
            "method": "llm_enhanced",
            "llm_enhanced": {"routing_model": "anthropic/claude-haiku-4-5"},
        }
    )
    assert isinstance(load_routing_provider(config), StaticRoutingProvider)
