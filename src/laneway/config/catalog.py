"""What laneway assumes a model can do before config says otherwise.

Three layers, later wins: the built-in table below (well-known models, matched
by name or dated snapshot such as `gpt-4o-2024-08-06`) or, for a model the table
does not know, its provider kind's default; then the provider's `capabilities:`;
then the provider's `models: {name: {...}}` entry.

Kind defaults are deliberately conservative for servers we cannot see into: an
unknown model behind `openai_compatible` (Ollama, vLLM, a proxy) is assumed to
stream and nothing more, so a lane that requires `tools` fails at load time
rather than at the first call.

`local` models (`echo`, `template:<key>`, registered functions) stream and
support `json_schema`: echo answers `{"echo": ...}` to a JSON request, a
template is JSON the user wrote, and the engine validates any output against
the lane's schema anyway. None calls tools; declare `tools` under the
provider's `models:` for a registered function that does.
`fake` models declare every capability: tests script whatever they need.

Names are matched after dropping a vendor prefix (`openai/gpt-4o` on GitHub
Models, `anthropic/claude-sonnet-4.5` on OpenRouter) and with dots read as
dashes, so one table serves every gateway.
"""

from __future__ import annotations

from dataclasses import dataclass

from laneway.config.schema import ProviderSpec
from laneway.types import Capability, ModelInfo, ModelRef, Price

T = Capability.TOOLS
J = Capability.JSON_SCHEMA
S = Capability.STREAMING
V = Capability.VISION
P = Capability.PREFILL

ALL: frozenset[Capability] = frozenset({T, J, S, V})
TEXT_TOOLS: frozenset[Capability] = frozenset({T, J, S})
#: Claude continues from a trailing assistant message ("prefill"):
#: https://docs.anthropic.com/en/docs/build-with-claude/prompt-engineering/prefill-claudes-response
#: OpenAI and Gemini answer such a message with a new turn, so they do not declare it.
CLAUDE: frozenset[Capability] = ALL | {P}


@dataclass(frozen=True, slots=True)
class KnownModel:
    capabilities: frozenset[Capability]
    context_window: int
    max_output_tokens: int


def _known(caps: frozenset[Capability], context: int, max_out: int) -> KnownModel:
    return KnownModel(caps, context, max_out)


#: Well-known models, by the provider's own name (dots as dashes).
KNOWN_MODELS: dict[str, KnownModel] = {
    # Anthropic — https://docs.anthropic.com/en/docs/about-claude/models/overview
    "claude-opus-4-5": _known(CLAUDE, 200_000, 64_000),
    "claude-sonnet-4-5": _known(CLAUDE, 200_000, 64_000),
    "claude-haiku-4-5": _known(CLAUDE, 200_000, 64_000),
    "claude-opus-4-1": _known(CLAUDE, 200_000, 32_000),
    "claude-opus-4": _known(CLAUDE, 200_000, 32_000),
    "claude-sonnet-4": _known(CLAUDE, 200_000, 64_000),
    "claude-3-7-sonnet": _known(CLAUDE, 200_000, 64_000),
    "claude-3-5-haiku": _known(TEXT_TOOLS | {P}, 200_000, 8_192),
    # OpenAI — https://platform.openai.com/docs/models
    "gpt-4o": _known(ALL, 128_000, 16_384),
    "gpt-4o-mini": _known(ALL, 128_000, 16_384),
    "gpt-4-1": _known(ALL, 1_047_576, 32_768),
    "gpt-4-1-mini": _known(ALL, 1_047_576, 32_768),
    "gpt-4-1-nano": _known(ALL, 1_047_576, 32_768),
    "gpt-5": _known(ALL, 400_000, 128_000),
    "gpt-5-mini": _known(ALL, 400_000, 128_000),
    "gpt-5-nano": _known(ALL, 400_000, 128_000),
    "o1": _known(ALL, 200_000, 100_000),
    "o3": _known(ALL, 200_000, 100_000),
    "o3-mini": _known(TEXT_TOOLS, 200_000, 100_000),
    "o4-mini": _known(ALL, 200_000, 100_000),
    # Google — https://ai.google.dev/gemini-api/docs/models
    "gemini-2-5-pro": _known(ALL, 1_048_576, 65_536),
    "gemini-2-5-flash": _known(ALL, 1_048_576, 65_536),
    "gemini-2-5-flash-lite": _known(ALL, 1_048_576, 65_536),
    "gemini-2-0-flash": _known(ALL, 1_048_576, 8_192),
    # Z.AI GLM — https://docs.z.ai/guides/llm/glm-4.7
    "glm-4-7": _known(TEXT_TOOLS, 200_000, 128_000),
    "glm-4-6": _known(TEXT_TOOLS, 200_000, 128_000),
    "glm-4-5": _known(TEXT_TOOLS, 128_000, 96_000),
    "glm-4-5-air": _known(TEXT_TOOLS, 128_000, 96_000),
}

#: What a model the table does not know is assumed to do, per provider kind.
KIND_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "anthropic": CLAUDE,
    "openai": TEXT_TOOLS,
    "gemini": ALL,
    "openai_compatible": frozenset({S}),
    "local": frozenset({S, J}),
    "fake": frozenset(Capability),
}

#: Kinds that never cost anything.
FREE_KINDS = frozenset({"local", "fake"})


def normalize_name(model: str) -> str:
    """The table key for a provider's model name: vendor prefix dropped, dots as dashes."""
    return model.rpartition("/")[2].lower().replace(".", "-")


def find_known(model: str) -> KnownModel | None:
    """The table entry for `model` or its longest dated/variant prefix."""
    name = normalize_name(model)
    exact = KNOWN_MODELS.get(name)
    if exact is not None:
        return exact
    best: str | None = None
    for key in KNOWN_MODELS:
        if (
            name.startswith(key)
            and name[len(key)] in "-:@"
            and (best is None or len(key) > len(best))
        ):
            best = key
    return None if best is None else KNOWN_MODELS[best]


def default_capabilities(kind: str, model: str) -> frozenset[Capability]:
    """Built-in capabilities of `model` served by a provider of `kind`."""
    if kind in FREE_KINDS:
        return KIND_CAPABILITIES[kind]
    known = find_known(model)
    if known is not None:
        return known.capabilities
    return KIND_CAPABILITIES.get(kind, frozenset({S}))


def build_model_info(ref: ModelRef, spec: ProviderSpec, price: Price | None) -> ModelInfo:
    """Defaults, then the provider's `capabilities:`, then its `models:` entry, in that order."""
    kind = spec.kind
    capabilities = default_capabilities(kind, ref.model)
    known = None if kind in FREE_KINDS else find_known(ref.model)
    context = known.context_window if known else None
    max_output = known.max_output_tokens if known else None
    if spec.capabilities is not None:
        capabilities = frozenset(spec.capabilities)
    declared = spec.models.get(ref.model)
    if declared is not None:
        if declared.capabilities is not None:
            capabilities = frozenset(declared.capabilities)
        context = declared.context or context
        max_output = declared.max_output or max_output
    return ModelInfo(
        ref=ref,
        capabilities=capabilities,
        context_window=context,
        max_output_tokens=max_output,
        price=price,
    )
