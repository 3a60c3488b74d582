"""LANEWAY_LANE_<LANE> and LANEWAY_LANE_<LANE>_FALLBACK change a lane without editing the file."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config import ConfigError, load_config
from laneway.config.overrides import env_name
from laneway.types import ModelRef

DATA: dict[str, Any] = {
    "providers": {
        "anthropic": {"kind": "anthropic"},
        "zai": {"kind": "openai_compatible", "preset": "zai"},
        "local": {"kind": "local"},
    },
    "lanes": {
        "coding": {"primary": "anthropic/claude-sonnet-4-5", "fallback": ["local/echo"]},
        "code-review": {"primary": "local/echo"},
    },
}


def test_primary_override() -> None:
    config = load_config(DATA, env={"LANEWAY_LANE_CODING": "zai/glm-4.7"})
    lane = config.lane("coding")
    assert lane.primary == ModelRef("zai", "glm-4.7")
    assert lane.fallback == (ModelRef("local", "echo"),)
    assert config.overrides == {"lanes.coding.primary": "LANEWAY_LANE_CODING"}


def test_fallback_override_replaces_the_chain() -> None:
    env = {"LANEWAY_LANE_CODING_FALLBACK": "zai/glm-4.7, local/echo"}
    lane = load_config(DATA, env=env).lane("coding")
    assert lane.fallback == (ModelRef("zai", "glm-4.7"), ModelRef("local", "echo"))


def test_override_catalogues_the_new_model() -> None:
    config = load_config(DATA, env={"LANEWAY_LANE_CODING": "zai/glm-4.7"})
    assert ModelRef("zai", "glm-4.7") in config.catalog


def test_lane_names_with_dashes_map_to_underscores() -> None:
    assert env_name("code-review") == "LANEWAY_LANE_CODE_REVIEW"
    config = load_config(DATA, env={"LANEWAY_LANE_CODE_REVIEW": "zai/glm-4.6"})
    assert config.lane("code-review").primary == ModelRef("zai", "glm-4.6")


def test_empty_override_counts_as_unset() -> None:
    config = load_config(DATA, env={"LANEWAY_LANE_CODING": " "})
    assert config.lane("coding").primary == ModelRef("anthropic", "claude-sonnet-4-5")


def test_override_naming_unknown_provider_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(DATA, env={"LANEWAY_LANE_CODING": "openai/gpt-4o"})
    text = str(caught.value)
    assert caught.value.path == "lanes.coding.primary"
    assert "LANEWAY_LANE_CODING" in text
    assert "provider 'openai'" in text


def test_override_naming_unknown_lane_lists_the_lanes() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(DATA, env={"LANEWAY_LANE_CODNG": "local/echo"})
    text = str(caught.value)
    assert "LANEWAY_LANE_CODNG names no lane" in text
    assert "LANEWAY_LANE_CODING" in text


def test_override_without_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="does not name its provider"):
        load_config(DATA, env={"LANEWAY_LANE_CODING_FALLBACK": "gpt-4o"})
