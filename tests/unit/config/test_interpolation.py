"""`${VAR}` and `${VAR:-default}` in values, from the environment passed in."""

from __future__ import annotations

import pytest

from laneway.config import ConfigError, load_config
from laneway.config.interpolate import interpolate


def test_variable_and_default() -> None:
    data, refs = interpolate(
        {"a": "${X}", "b": "${Y:-fallback}", "c": ["pre-${X}-post"], "d": 3},
        {"X": "one"},
        file="f",
    )
    assert data == {"a": "one", "b": "fallback", "c": ["pre-one-post"], "d": 3}
    assert refs == {"a": ("X",), "b": ("Y",), "c[0]": ("X",)}


def test_unset_without_default_is_empty_and_empty_uses_default() -> None:
    data, _ = interpolate({"a": "${NOPE}", "b": "${EMPTY:-d}"}, {"EMPTY": ""}, file="f")
    assert data == {"a": "", "b": "d"}


def test_double_dollar_is_a_literal() -> None:
    data, refs = interpolate({"a": "$${X}"}, {"X": "one"}, file="f")
    assert data == {"a": "${X}"}
    assert refs == {}


def test_keys_are_never_interpolated() -> None:
    data, _ = interpolate({"${X}": "v"}, {"X": "one"}, file="f")
    assert data == {"${X}": "v"}


def test_malformed_reference_names_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        interpolate({"providers": {"z": {"base_url": "${1BAD}"}}}, {}, file="f.yaml")
    assert caught.value.path == "providers.z.base_url"
    assert "${NAME:-default}" in str(caught.value)


def test_interpolated_values_are_validated_and_typed() -> None:
    config = load_config(
        {
            "providers": {"local": {"kind": "local"}},
            "lanes": {"a": {"primary": "${MODEL:-local/echo}"}},
            "server": {"port": "${PORT}"},
        },
        env={"PORT": "9090"},
    )
    assert str(config.lane("a").primary) == "local/echo"
    assert config.spec.server.port == 9090
    assert config.env_refs["server.port"] == ("PORT",)


def test_secret_comes_from_env_but_stays_secret() -> None:
    config = load_config(
        {
            "providers": {"anthropic": {"kind": "anthropic", "api_key": "${ANTHROPIC_API_KEY}"}},
            "lanes": {"a": {"primary": "anthropic/claude-haiku-4-5"}},
        },
        env={"ANTHROPIC_API_KEY": "sk-secret"},
    )
    spec = config.providers["anthropic"]
    assert spec.api_key is not None
    assert spec.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(config.spec)
