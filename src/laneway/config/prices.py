"""Model prices in USD per million tokens: config first, then the `genai-prices` package.

`genai_prices` is slow to import, so it is imported inside the lookup,
and only when a model's price is not declared in config. Its data ships with
the package: no network call is made.

Our provider kinds and presets map to genai-prices provider ids. GitHub Models
and OpenRouter name models `vendor/model`; for GitHub Models we price the model
at its vendor (its paid tier bills at the vendor's list price), for OpenRouter
at OpenRouter's own table. Prices are read for a small request (1k tokens each
way) so that long-context tiers (e.g. Sonnet above 200k input tokens) do not
leak into per-task estimates.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from laneway.config.catalog import FREE_KINDS
from laneway.config.schema import ProviderSpec
from laneway.types import Price

ZERO = Price(0.0, 0.0)

#: genai-prices provider ids to try, in order, per provider kind or preset.
GENAI_PROVIDERS: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("anthropic",),
    "openai": ("openai",),
    "gemini": ("google",),
    "zai": ("zai", "zhipuai"),
    "openrouter": ("openrouter",),
    "groq": ("groq",),
    "together": ("together",),
    "deepseek": ("deepseek",),
    "moonshot": ("moonshotai",),
    "minimax": ("minimax",),
}

_SAMPLE_TOKENS = 1_000


def genai_provider_ids(spec: ProviderSpec, model: str) -> tuple[tuple[str, str], ...]:
    """(genai-prices provider id, model name) pairs to try for one of our models."""
    preset = getattr(spec, "preset", None)
    key = preset or spec.kind
    if key == "github":
        vendor, sep, name = model.partition("/")
        vendor_ids = GENAI_PROVIDERS.get(vendor, (vendor,)) if sep else ("openai",)
        return tuple((vendor_id, name if sep else model) for vendor_id in vendor_ids)
    return tuple((provider_id, model) for provider_id in GENAI_PROVIDERS.get(key, ()))


def lookup_price(spec: ProviderSpec, model: str) -> Price | None:
    """The price of `model` at this provider: config, then genai-prices; None if unknown.

    `local` and `fake` are free.
    """
    declared = spec.models.get(model)
    if declared is not None and declared.price is not None:
        spec_price = declared.price
        return Price(
            spec_price.input, spec_price.output, spec_price.cache_read, spec_price.cache_write
        )
    if spec.kind in FREE_KINDS:
        return ZERO
    for provider_id, name in genai_provider_ids(spec, model):
        price = genai_price(provider_id, name)
        if price is not None:
            return price
    return None


@functools.lru_cache(maxsize=512)
def genai_price(provider_id: str, model: str) -> Price | None:
    """One genai-prices lookup, cached: the package data is fixed for the process."""
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=_SAMPLE_TOKENS, output_tokens=_SAMPLE_TOKENS)
    try:
        result = calc_price(usage, model_ref=model, provider_id=provider_id)
    except LookupError:
        return None
    scale = 1_000_000 / _SAMPLE_TOKENS
    base = float(result.input_price)
    # The same prompt again, half of it a cache read (then a cache write): the
    # difference is the cache's own rate (Anthropic's are 0.1x and 1.25x input).
    half = _SAMPLE_TOKENS // 2
    reads = calc_price(
        Usage(input_tokens=_SAMPLE_TOKENS, cache_read_tokens=half, output_tokens=0),
        model_ref=model,
        provider_id=provider_id,
    )
    writes = calc_price(
        Usage(input_tokens=_SAMPLE_TOKENS, cache_write_tokens=half, output_tokens=0),
        model_ref=model,
        provider_id=provider_id,
    )
    per_cached = 1_000_000 / half
    return Price(
        base * scale,
        float(result.output_price) * scale,
        cache_read=round((float(reads.input_price) - base / 2) * per_cached, 9),
        cache_write=round((float(writes.input_price) - base / 2) * per_cached, 9),
    )
