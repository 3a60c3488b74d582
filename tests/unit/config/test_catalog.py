"""Built-in capabilities, kind defaults, and config overriding both."""

from __future__ import annotations

from pydantic import TypeAdapter

from laneway.config.catalog import build_model_info, default_capabilities, find_known
from laneway.config.schema import ProviderSpec
from laneway.types import Capability, ModelRef

C = Capability
SPEC: TypeAdapter[ProviderSpec] = TypeAdapter(ProviderSpec)


def test_known_models_and_their_snapshots() -> None:
    opus = find_known("claude-opus-4-5")
    assert opus is not None
    assert opus.context_window == 200_000
    assert find_known("claude-opus-4-5-20251101") == opus
    mini = find_known("gpt-4o-mini-2024-07-18")
    assert mini is not None
    assert mini == find_known("gpt-4o-mini")
    assert find_known("gpt-4.1") == find_known("gpt-4-1")


def test_vendor_prefixed_names_match_for_gateways() -> None:
    assert find_known("anthropic/claude-sonnet-4.5") == find_known("claude-sonnet-4-5")
    assert find_known("openai/gpt-4o") == find_known("gpt-4o")


def test_prefix_needs_a_boundary() -> None:
    assert find_known("o3x") is None
    assert find_known("glm-4-7b") is None
    assert find_known("glm-4.7-flash") == find_known("glm-4.7")


def test_kind_defaults_for_unknown_models() -> None:
    assert default_capabilities("openai_compatible", "llama3.1:8b") == frozenset({C.STREAMING})
    assert default_capabilities("anthropic", "claude-future") == frozenset(C)
    assert default_capabilities("openai_compatible", "glm-4.7") == frozenset(
        {C.TOOLS, C.JSON_SCHEMA, C.STREAMING}
    )
    assert default_capabilities("local", "echo") == frozenset({C.STREAMING, C.JSON_SCHEMA})
    assert default_capabilities("fake", "anything") == frozenset(C)


def test_provider_then_model_config_override() -> None:
    spec = SPEC.validate_python(
        {
            "kind": "openai_compatible",
            "capabilities": ["tools", "streaming"],
            "models": {"special": {"capabilities": ["vision"], "context": 4096, "max_output": 512}},
        }
    )
    plain = build_model_info(ModelRef("p", "glm-4.7"), spec, None)
    assert plain.capabilities == frozenset({C.TOOLS, C.STREAMING})
    assert plain.context_window == 200_000
    special = build_model_info(ModelRef("p", "special"), spec, None)
    assert special.capabilities == frozenset({C.VISION})
    assert (special.context_window, special.max_output_tokens) == (4096, 512)
