"""Prices: config overrides, genai-prices by our kinds and presets, free local models."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from laneway.config.prices import ZERO, genai_provider_ids, lookup_price
from laneway.config.schema import ProviderSpec
from laneway.types import Price

SPEC: TypeAdapter[ProviderSpec] = TypeAdapter(ProviderSpec)


def _spec(**fields: object) -> ProviderSpec:
    return SPEC.validate_python(fields)


def test_config_price_wins() -> None:
    spec = _spec(kind="anthropic", models={"claude-opus-4-5": {"price": {"input": 1, "output": 2}}})
    assert lookup_price(spec, "claude-opus-4-5") == Price(1, 2)


def test_local_and_fake_are_free() -> None:
    assert lookup_price(_spec(kind="local"), "echo") == ZERO
    assert lookup_price(_spec(kind="fake"), "x") == ZERO


@pytest.mark.parametrize(
    ("fields", "model"),
    [
        ({"kind": "anthropic"}, "claude-opus-4-5"),
        ({"kind": "openai"}, "gpt-4o"),
        ({"kind": "gemini"}, "gemini-2.5-pro"),
        ({"kind": "openai_compatible", "preset": "zai"}, "glm-4.7"),
        ({"kind": "openai_compatible", "preset": "github"}, "openai/gpt-4o-mini"),
    ],
)
def test_genai_prices_knows_the_well_known_models(fields: dict[str, str], model: str) -> None:
    price = lookup_price(_spec(**fields), model)
    assert price is not None
    assert 0 < price.input < 100
    assert price.output >= price.input


def test_small_request_tier_is_used() -> None:
    """Sonnet costs more above 200k input tokens; a per-task estimate uses the base tier.

    Its prompt cache is priced too: reads at 0.1x and writes at 1.25x the input
    price (https://docs.claude.com/en/docs/build-with-claude/prompt-caching#pricing).
    """
    price = lookup_price(_spec(kind="anthropic"), "claude-sonnet-4-5")
    assert price == Price(3.0, 15.0, cache_read=0.3, cache_write=3.75)


def test_cache_tokens_are_priced_at_their_own_rates() -> None:
    """1M prompt tokens of which 600k cache reads and 100k cache writes, 0 output."""
    price = Price(3.0, 15.0, cache_read=0.3, cache_write=3.75)
    cost = price.cost_usd(1_000_000, 0, cache_read=600_000, cache_write=100_000)
    assert cost == pytest.approx(0.3 * 3.0 + 0.6 * 0.3 + 0.1 * 3.75)
    assert Price(3.0, 15.0).cost_usd(1_000_000, 0, 600_000, 100_000) == pytest.approx(3.0)


def test_unknown_model_or_server_has_no_price() -> None:
    assert lookup_price(_spec(kind="openai"), "no-such-model-xyz") is None
    assert lookup_price(_spec(kind="openai_compatible", preset="ollama"), "llama3") is None


def test_preset_maps_to_genai_provider_ids() -> None:
    assert genai_provider_ids(_spec(kind="openai_compatible", preset="zai"), "glm-4.7") == (
        ("zai", "glm-4.7"),
        ("zhipuai", "glm-4.7"),
    )
    assert genai_provider_ids(
        _spec(kind="openai_compatible", preset="github"), "meta/llama-3.3"
    ) == (("meta", "llama-3.3"),)
