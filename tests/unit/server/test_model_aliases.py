"""`server.aliases`: client model names (exact or glob) choosing lanes or models."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config.loader import load_config
from laneway.errors import ConfigError
from laneway.server.context import LaneResolver
from laneway.types import ModelRef


def _config(aliases: dict[str, str]) -> Any:
    return load_config(
        {
            "providers": {"fake": {"kind": "fake"}},
            "lanes": {
                "planning": {"primary": "fake/a"},
                "background": {"primary": "fake/b"},
                "claude-haiku-4-5": {"primary": "fake/c"},
            },
            "server": {"aliases": aliases},
        },
        env={},
    )


def test_exact_names_then_globs_in_order() -> None:
    lanes = LaneResolver(
        _config(
            {
                "claude-opus-4-7": "background",
                "claude-opus-*": "planning",
                "claude-*": "background",
                "my-model": "fake/z",
            }
        )
    )
    assert lanes.resolve("claude-opus-4-7", None) == ("background", None)
    assert lanes.resolve("claude-opus-4-8-20261001", None) == ("planning", None)
    assert lanes.resolve("claude-sonnet-4-6", None) == ("background", None)
    assert lanes.resolve("claude-haiku-4-5", None) == ("claude-haiku-4-5", None)  # a lane wins
    assert lanes.resolve("planning", None) == ("planning", None)
    assert lanes.resolve("my-model", "planning") == ("planning", ModelRef("fake", "z"))


def test_an_alias_to_nowhere_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        _config({"claude-*": "nonexistent"})
    assert "server.aliases" in str(caught.value)
    assert "nonexistent" in str(caught.value)
