"""A config shared by the routing tests: three providers, priced models, twenty-odd rules."""

from __future__ import annotations

from typing import Any

from laneway.config import Config, load_config

PROVIDERS: dict[str, Any] = {
    "anthropic": {"kind": "anthropic"},
    "zai": {"kind": "openai_compatible", "preset": "zai"},
    "local": {"kind": "local"},
    "cheap": {
        "kind": "openai_compatible",
        "base_url": "http://127.0.0.1:9/v1",
        "models": {
            "tiny": {"price": {"input": 0.01, "output": 0.02}, "capabilities": ["streaming"]},
            "mystery": {"capabilities": ["streaming", "tools"]},
        },
    },
}

LANES: dict[str, Any] = {
    "planning": {
        "primary": "anthropic/claude-opus-4-5",
        "fallback": ["anthropic/claude-sonnet-4-5", "zai/glm-4.7"],
        "requires": ["tools"],
    },
    "coding": {
        "primary": "zai/glm-4.7",
        "fallback": ["anthropic/claude-sonnet-4-5", "local/echo"],
        "budget": {"usd_per_task": 0.5},
    },
    "review": {"primary": "anthropic/claude-sonnet-4-5", "fallback": ["zai/glm-4.7"]},
    "cheap": {
        "primary": "anthropic/claude-opus-4-5",
        "fallback": ["cheap/mystery", "anthropic/claude-haiku-4-5", "cheap/tiny"],
        "budget": {"usd_per_task": 0.01},
    },
}

RULES: list[dict[str, Any]] = [
    {
        "when": {"lane": "planning", "phase": "plan", "complexity": "high"},
        "model": "anthropic/claude-opus-4-5",
    },
    {
        "when": {"lane": "coding", "phase": ["design", "architecture"]},
        "model": "anthropic/claude-opus-4-5",
        "fallback": ["anthropic/claude-sonnet-4-5"],
    },
    {"when": {"phase": "vision-task"}, "model": "zai/glm-4.7"},
    {"when": {"team": "infra", "urgent": True}, "model": "anthropic/claude-haiku-4-5"},
    {"when": {"job_id": "job-42"}, "model": "anthropic/claude-sonnet-4-5"},
    {"when": {"prompt_version": "v2"}, "model": "zai/glm-4.6"},
    *[{"when": {"lane": "review", "phase": f"p{i}"}, "model": "zai/glm-4.7"} for i in range(14)],
    {"when": {"complexity": "low"}, "model": "local/echo"},
]


def routing_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": PROVIDERS,
        "lanes": LANES,
        "routing": {"method": "static", "rules": RULES},
    }
    data.update(overrides)
    return data


def routing_config(**overrides: Any) -> Config:
    return load_config(routing_data(**overrides), env={})
