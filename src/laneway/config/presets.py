"""Where each provider kind and preset lives, and which variable holds its key.

Data only: a preset is an `openai_compatible` provider whose base URL and key
variable are known, so a config can say `preset: zai` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str
    key_env: str | None  # None: the server takes no key (local servers)
    label: str


KIND_DEFAULTS: dict[str, Preset] = {
    "openai": Preset("https://api.openai.com/v1", "OPENAI_API_KEY", "OpenAI"),
    "anthropic": Preset("https://api.anthropic.com", "ANTHROPIC_API_KEY", "Anthropic"),
    "gemini": Preset(
        "https://generativelanguage.googleapis.com", "GEMINI_API_KEY", "Google Gemini"
    ),
    "local": Preset("", None, "in-process"),
    "fake": Preset("", None, "scripted fake"),
}

PRESETS: dict[str, Preset] = {
    "github": Preset("https://models.github.ai/inference", "GITHUB_TOKEN", "GitHub Models"),
    "zai": Preset("https://api.z.ai/api/paas/v4", "ZAI_API_KEY", "Z.AI (GLM)"),
    "openrouter": Preset("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "OpenRouter"),
    "groq": Preset("https://api.groq.com/openai/v1", "GROQ_API_KEY", "Groq"),
    "together": Preset("https://api.together.xyz/v1", "TOGETHER_API_KEY", "Together AI"),
    "ollama": Preset("http://127.0.0.1:11434/v1", None, "Ollama"),
    "vllm": Preset("http://127.0.0.1:8000/v1", None, "vLLM"),
    "llamacpp": Preset("http://127.0.0.1:8080/v1", None, "llama.cpp server"),
}


#: vendors serving the Anthropic Messages API themselves (`kind: anthropic, preset: ...`);
#: each base URL is the one the vendor documents for ANTHROPIC_BASE_URL
ANTHROPIC_PRESETS: dict[str, Preset] = {
    # https://docs.z.ai/scenario-example/develop-tools/claude
    "zai": Preset("https://api.z.ai/api/anthropic", "ZAI_API_KEY", "Z.AI (GLM), Anthropic API"),
    # https://api-docs.deepseek.com/guides/anthropic_api
    "deepseek": Preset(
        "https://api.deepseek.com/anthropic", "DEEPSEEK_API_KEY", "DeepSeek, Anthropic API"
    ),
    # https://platform.moonshot.ai (Claude Code guide): the /anthropic route
    "moonshot": Preset(
        "https://api.moonshot.ai/anthropic", "MOONSHOT_API_KEY", "Moonshot Kimi, Anthropic API"
    ),
    # https://platform.minimax.io/docs/api-reference/text-anthropic-api
    "minimax": Preset(
        "https://api.minimax.io/anthropic", "MINIMAX_API_KEY", "MiniMax, Anthropic API"
    ),
}


def preset_for(kind: str, preset: str | None) -> Preset | None:
    if preset is not None:
        table = ANTHROPIC_PRESETS if kind == "anthropic" else PRESETS
        return table.get(preset)
    return KIND_DEFAULTS.get(kind)
