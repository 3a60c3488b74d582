"""Every bad config in tests/fixtures/bad_configs gives one short error naming the key and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from laneway.config import ConfigError, load_config

FIXTURES = Path(__file__).parents[2] / "fixtures" / "bad_configs"

#: fixture -> (expected YAML path, fragments the message must contain)
EXPECTED: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "api_key_and_command": (
        "providers.anthropic.api_key_command",
        ("sets both api_key and api_key_command", "keep one", "line 6"),
    ),
    "audit_url_scheme": ("audit.url", ("scheme 'mysql'", "sqlite:///", "postgresql://", "line 7")),
    "capability_missing": (
        "lanes.coding.fallback[0]",
        ("ollama/llama3.1:8b lacks tools", "providers.ollama.models", "line 7"),
    ),
    "duplicate_lane": ("lanes.coding", ("duplicate key 'coding'", "line 6", "line 4")),
    "fallback_not_a_list": ("lanes.coding.fallback", ("expected a list", "fallback: [a, b]")),
    "guard_lane_missing": ("lanes.coding.guard.lane", ("'safety' does not exist", "add a")),
    "llm_enhanced_without_section": ("routing.method", ("llm_enhanced:", "routing_model")),
    "missing_primary": ("lanes.coding.primary", ("missing required key", "add `primary:")),
    "model_without_provider": (
        "lanes.coding.fallback[0]",
        ("'gpt-4' does not name its provider", "provider/model"),
    ),
    "negative_budget": ("lanes.coding.budget.usd_per_task", ("must not be negative", "0 or more")),
    "openai_compatible_without_address": (
        "providers.vllm",
        ("'vllm' has no server address", "set providers.vllm.base_url", "preset", "line 3"),
    ),
    "output_schema_missing_file": (
        "lanes.coding.output_schema",
        ("does-not-exist.json", "relative to the config file"),
    ),
    "provider_without_kind": ("providers.zai.kind", ("has no `kind`", "openai_compatible")),
    "rule_bad_complexity": ("routing.rules[0].when.complexity", ("'extreme'", "low, medium, high")),
    "rule_unknown_lane": ("routing.rules[0].when.lane", ("unknown lane 'codng'", "(coding)")),
    "rule_unknown_model": (
        "routing.rules[1].model",
        ("provider 'anthropic'", "add `anthropic: {kind: ...}` under `providers:`"),
    ),
    "state_url_scheme": ("state.url", ("scheme reddis://", "memory://", "redis://", "line 6")),
    "unknown_capability": (
        "lanes.coding.requires[0]",
        ("capability 'tool'", "did you mean 'tools'"),
    ),
    "unknown_error_code": ("retry.ratelimit", ("error code 'ratelimit'", "'rate_limit'")),
    "unknown_key": ("lanes.coding.fallbak", ("unknown key 'fallbak'", "did you mean 'fallback'")),
    "unknown_kind": ("providers.glm.kind", ("provider kind 'glm'", "preset")),
    "unknown_preset": ("providers.zai.preset", ("preset 'zia'", "did you mean 'zai'")),
    "unknown_provider": ("lanes.coding.primary", ("provider 'openai'", "(anthropic)")),
    "yaml_syntax": (None, ("YAML syntax error at line 6", "indentation")),
}


def test_every_fixture_has_an_expectation() -> None:
    assert {p.stem for p in FIXTURES.glob("*.yaml")} == set(EXPECTED)
    assert len(EXPECTED) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_names_path_and_fix(name: str) -> None:
    path, fragments = EXPECTED[name]
    with pytest.raises(ConfigError) as caught:
        load_config(FIXTURES / f"{name}.yaml", env={})
    error = caught.value
    text = str(error)
    assert error.path == path
    assert error.file is not None
    assert error.file.endswith(f"{name}.yaml")
    assert error.hint, "every error carries a fix"
    for fragment in fragments:
        assert fragment in text
    if path is not None:
        assert text.startswith(f"{error.file}:{path}: ")
    assert "\n  fix: " in text
    assert len(text.splitlines()) <= 3
    for noise in ("pydantic", "Input should", "validation error", "Traceback"):
        assert noise not in text
