"""The built-in config: local lanes offline, hosted providers in front when their key is set."""

from __future__ import annotations

from laneway.config import load_config
from laneway.config.defaults import LANES, default_config
from laneway.types import ModelRef


def test_offline_default_serves_every_lane_locally() -> None:
    config = load_config(default_config({}), env={})
    assert set(config.lanes) == set(LANES)
    assert set(config.providers) == {"local"}
    for lane in config.lanes.values():
        assert lane.candidates == (ModelRef("local", "echo"),)
    assert config.spec.state.url == "memory://"
    assert config.spec.audit.url.startswith("sqlite:///")


def test_keys_put_providers_in_front_with_local_last() -> None:
    env = {"ZAI_API_KEY": "z", "ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": ""}
    config = load_config(default_config(env), env=env)
    assert set(config.providers) == {"local", "anthropic", "zai"}
    coding = config.lane("coding")
    assert coding.primary == ModelRef("anthropic", "claude-sonnet-4-5")
    assert coding.fallback == (ModelRef("zai", "glm-4.7"), ModelRef("local", "echo"))
    assert config.lane("planning").primary == ModelRef("anthropic", "claude-opus-4-5")
    assert config.lane("safety").candidates == (ModelRef("local", "echo"),)


def test_every_hosted_provider_resolves() -> None:
    env = {
        v: "k"
        for v in (
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "ZAI_API_KEY",
            "GITHUB_TOKEN",
            "OPENROUTER_API_KEY",
        )
    }
    config = load_config(default_config(env), env=env)
    assert len(config.providers) == 7
    assert len(config.lane("review").candidates) == 7
