"""The built-in configuration, used when there is no `laneway.yaml`.

Offline it routes every lane to the in-process `local` provider (`echo`), so
`laneway route` and the library work on a fresh machine with no key. Each
provider whose key is in the environment is added and put in front of the
lanes, in the order of `HOSTED` below, with `local/echo` kept last as the
fallback that cannot fail. The `safety` lane always stays local. State lives in
memory; the audit log in `laneway.db` (SQLite) in the working directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LANES = ("default", "planning", "coding", "review", "safety")
LOCAL_FALLBACK = "local/echo"


@dataclass(frozen=True, slots=True)
class Hosted:
    """A provider the default config adds when `key_env` is set, and its model per lane."""

    provider_id: str
    key_env: str
    spec: Mapping[str, Any]
    models: Mapping[str, str]  # lane -> model name


HOSTED: tuple[Hosted, ...] = (
    Hosted(
        "anthropic",
        "ANTHROPIC_API_KEY",
        {"kind": "anthropic"},
        {
            "default": "claude-sonnet-4-5",
            "planning": "claude-opus-4-5",
            "coding": "claude-sonnet-4-5",
            "review": "claude-sonnet-4-5",
        },
    ),
    Hosted(
        "openai",
        "OPENAI_API_KEY",
        {"kind": "openai"},
        {"default": "gpt-4o-mini", "planning": "gpt-4.1", "coding": "gpt-4.1", "review": "gpt-4o"},
    ),
    Hosted(
        "gemini",
        "GEMINI_API_KEY",
        {"kind": "gemini"},
        {
            "default": "gemini-2.5-flash",
            "planning": "gemini-2.5-pro",
            "coding": "gemini-2.5-pro",
            "review": "gemini-2.5-flash",
        },
    ),
    Hosted(
        "zai",
        "ZAI_API_KEY",
        {"kind": "openai_compatible", "preset": "zai"},
        {"default": "glm-4.6", "planning": "glm-4.7", "coding": "glm-4.7", "review": "glm-4.7"},
    ),
    Hosted(
        "github",
        "GITHUB_TOKEN",
        {"kind": "openai_compatible", "preset": "github"},
        {
            "default": "openai/gpt-4o-mini",
            "planning": "openai/gpt-4.1",
            "coding": "openai/gpt-4.1",
            "review": "openai/gpt-4o-mini",
        },
    ),
    Hosted(
        "openrouter",
        "OPENROUTER_API_KEY",
        {"kind": "openai_compatible", "preset": "openrouter"},
        {
            "default": "openai/gpt-4o-mini",
            "planning": "anthropic/claude-opus-4.5",
            "coding": "anthropic/claude-sonnet-4.5",
            "review": "openai/gpt-4o-mini",
        },
    ),
)


def default_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The built-in config as YAML would parse it, for the keys present in `env`."""
    present = [h for h in HOSTED if env.get(h.key_env, "").strip()]
    providers: dict[str, Any] = {"local": {"kind": "local"}}
    for hosted in present:
        providers[hosted.provider_id] = dict(hosted.spec)
    lanes: dict[str, Any] = {}
    for lane in LANES:
        chain = [f"{h.provider_id}/{h.models[lane]}" for h in present if lane in h.models]
        chain.append(LOCAL_FALLBACK)
        lanes[lane] = {"primary": chain[0], "fallback": chain[1:]}
    lanes["safety"]["description"] = "input screening; always in-process"
    return {
        "providers": providers,
        "lanes": lanes,
        "routing": {"method": "static"},
        "state": {"url": "memory://"},
        "audit": {"url": "sqlite:///laneway.db"},
    }
