"""Cost estimates before a call, and actual cost after it."""

from __future__ import annotations

import pytest

from laneway.budgets.estimate import (
    DEFAULT_OUTPUT_TOKENS,
    actual_cost_usd,
    estimate_output_tokens,
    estimate_request,
)
from laneway.types import CompletionRequest, ModelInfo, ModelRef, Price, Usage

GLM = ModelInfo(ModelRef("zai", "glm-4.7"), frozenset(), price=Price(input=0.60, output=2.20))


def test_estimate_uses_input_estimate_and_max_tokens() -> None:
    request = CompletionRequest.from_prompt("x" * 4000, system=None)
    request = CompletionRequest(messages=request.messages, max_tokens=500)
    estimate = estimate_request(request, GLM)
    assert estimate.tokens_in == request.estimated_input_tokens() == 1002
    assert estimate.tokens_out == 500
    assert estimate.cost_usd == pytest.approx((1002 * 0.60 + 500 * 2.20) / 1e6)
    assert estimate.priced
    assert estimate.tokens == 1502


def test_output_defaults_to_the_documented_default_or_the_model_cap() -> None:
    request = CompletionRequest.from_prompt("hi")
    assert estimate_output_tokens(request) == DEFAULT_OUTPUT_TOKENS
    small = ModelInfo(ModelRef("p", "m"), frozenset(), max_output_tokens=256)
    assert estimate_output_tokens(request, small) == 256


def test_unpriced_models_estimate_zero_usd() -> None:
    unpriced = ModelInfo(ModelRef("local", "echo"), frozenset())
    estimate = estimate_request(CompletionRequest.from_prompt("hi"), unpriced)
    assert (estimate.cost_usd, estimate.priced) == (0.0, False)


def test_actual_cost_prefers_the_providers_figure() -> None:
    assert actual_cost_usd(Usage(10, 10, cost_usd=0.5), GLM) == 0.5
    assert actual_cost_usd(Usage(1_000_000, 0), GLM) == pytest.approx(0.60)
    assert actual_cost_usd(Usage(1_000_000, 0), None) == 0.0
