"""Phase two: retry tables, timeouts, rules, catalog and cross-reference checks."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, load_config
from laneway.config.model import DEFAULT_ATTEMPT_TIMEOUT_S, DEFAULT_TOTAL_TIMEOUT_S
from laneway.errors import DEFAULT_RETRY_TABLE, ErrorCode
from laneway.types import Capability, ModelRef


def _config(**sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": {
            "anthropic": {"kind": "anthropic"},
            "local": {"kind": "local"},
            "ollama": {"kind": "openai_compatible", "preset": "ollama"},
        },
        "lanes": {"a": {"primary": "anthropic/claude-sonnet-4-5", "fallback": ["local/echo"]}},
    }
    data.update(sections)
    return data


def test_retry_tables_merge_default_then_global_then_lane() -> None:
    data = _config(retry={"rate_limit": {"retries": 5}, "timeout": {"then": "stop"}})
    data["lanes"]["a"]["retry"] = {"rate_limit": {"backoff": False}}
    config = load_config(data, env={})
    lane_rule = config.lane("a").retry_table[ErrorCode.RATE_LIMIT]
    assert (lane_rule.retries, lane_rule.backoff) == (5, False)
    assert config.retry_table[ErrorCode.RATE_LIMIT].backoff is True
    assert config.retry_table[ErrorCode.TIMEOUT].then == "stop"
    assert (
        config.retry_table[ErrorCode.TIMEOUT].retries
        == DEFAULT_RETRY_TABLE[ErrorCode.TIMEOUT].retries
    )
    assert config.lane("a").retry_table[ErrorCode.AUTH] == DEFAULT_RETRY_TABLE[ErrorCode.AUTH]


def test_timeouts_lane_over_global_over_default() -> None:
    data = _config(timeouts={"attempt_s": 20})
    data["lanes"]["b"] = {"primary": "local/echo", "timeouts": {"attempt_s": 5, "total_s": 9}}
    config = load_config(data, env={})
    assert (config.lane("a").attempt_timeout_s, config.lane("a").total_timeout_s) == (
        20,
        DEFAULT_TOTAL_TIMEOUT_S,
    )
    assert (config.lane("b").attempt_timeout_s, config.lane("b").total_timeout_s) == (5, 9)
    assert DEFAULT_ATTEMPT_TIMEOUT_S != 20


def test_fallback_never_repeats_nor_contains_primary() -> None:
    data = _config()
    data["lanes"]["a"]["fallback"] = ["local/echo", "anthropic/claude-sonnet-4-5", "local/echo"]
    assert load_config(data, env={}).lane("a").fallback == (ModelRef("local", "echo"),)


def test_rule_lane_shorthand_joins_when() -> None:
    data = _config(
        routing={"rules": [{"lane": "a", "when": {"phase": "plan"}, "model": "local/echo"}]}
    )
    rule = load_config(data, env={}).rules[0]
    assert dict(rule.when) == {"phase": "plan", "lane": "a"}


def test_catalog_covers_every_referenced_model() -> None:
    data = _config(
        routing={
            "method": "llm_enhanced",
            "rules": [{"when": {"phase": "x"}, "model": "ollama/qwen3", "fallback": ["local/t"]}],
            "llm_enhanced": {"routing_model": "anthropic/claude-haiku-4-5"},
        }
    )
    data["providers"]["ollama"]["models"] = {"declared": {"context": 8192}}
    catalog = load_config(data, env={}).catalog
    expected = {
        "anthropic/claude-sonnet-4-5",
        "local/echo",
        "ollama/qwen3",
        "local/t",
        "anthropic/claude-haiku-4-5",
        "ollama/declared",
    }
    assert {str(ref) for ref in catalog} == expected
    assert catalog[ModelRef("ollama", "declared")].context_window == 8192


def test_declared_capabilities_satisfy_a_lane() -> None:
    data = _config()
    data["lanes"]["t"] = {"primary": "ollama/qwen3", "requires": ["tools"]}
    with pytest.raises(ConfigError, match="lacks tools"):
        load_config(data, env={})
    data["providers"]["ollama"]["models"] = {"qwen3": {"capabilities": ["tools", "streaming"]}}
    info = load_config(data, env={}).catalog[ModelRef("ollama", "qwen3")]
    assert Capability.TOOLS in info.capabilities


def test_rule_for_a_lane_must_meet_its_requirements() -> None:
    data = _config(routing={"rules": [{"when": {"lane": "v"}, "model": "ollama/llava"}]})
    data["lanes"]["v"] = {"primary": "anthropic/claude-sonnet-4-5", "requires": ["vision"]}
    with pytest.raises(ConfigError) as caught:
        load_config(data, env={})
    assert caught.value.path == "routing.rules[0].model"
    assert "ollama/llava, which lacks vision" in str(caught.value)


def test_guard_cycle_is_refused() -> None:
    data = _config()
    data["lanes"]["a"]["guard"] = {"lane": "b"}
    data["lanes"]["b"] = {"primary": "local/echo", "guard": {"lane": "a"}}
    with pytest.raises(ConfigError, match="lead back"):
        load_config(data, env={})


def test_client_key_naming_unknown_lane() -> None:
    data = _config(server={"keys": [{"key": "k", "lanes": ["a", "nope"]}]})
    with pytest.raises(ConfigError) as caught:
        load_config(data, env={})
    assert caught.value.path == "server.keys[0].lanes[1]"


def test_unknown_lane_lookup_lists_known_lanes() -> None:
    with pytest.raises(ConfigError, match=r"known lanes: a"):
        load_config(_config(), env={}).lane("b")
