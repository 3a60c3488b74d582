from __future__ import annotations

import pytest

from laneway.errors import ConfigError, ErrorCode, ProviderError, RoutingExhaustedError
from laneway.types import Attempt, ModelRef, Price, TaskContext


def test_model_ref_parses_provider_and_model() -> None:
    ref = ModelRef.parse("zai/glm-4.7")
    assert (ref.provider, ref.model) == ("zai", "glm-4.7")
    assert str(ref) == "zai/glm-4.7"


def test_model_ref_keeps_slashes_after_the_provider() -> None:
    assert ModelRef.parse("openrouter/meta-llama/llama-3-70b").model == "meta-llama/llama-3-70b"


@pytest.mark.parametrize("text", ["gpt-4", "/gpt-4", "openai/", ""])
def test_model_ref_without_provider_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelRef.parse(text)
    assert "provider/model" in str(info.value)


def test_price_is_per_million_tokens() -> None:
    assert Price(input=5.0, output=25.0).cost_usd(1000, 100) == pytest.approx(0.0075)


def test_context_attribute_reads_fields_then_metadata() -> None:
    ctx = TaskContext(lane="coding", phase="plan", metadata={"team": "infra"})
    assert ctx.attribute("phase") == "plan"
    assert ctx.attribute("team") == "infra"
    assert ctx.attribute("missing") is None


def test_provider_error_renders_without_secrets_or_body() -> None:
    err = ProviderError(
        "slow down", provider="anthropic", model="claude", code=ErrorCode.RATE_LIMIT, status=429
    )
    assert str(err) == "anthropic/claude: rate_limit (HTTP 429): slow down"


def test_exhausted_error_lists_every_attempt() -> None:
    attempts = [
        Attempt(ModelRef("a", "x"), "rate_limit", 1, 12.0, retried=True),
        Attempt(ModelRef("b", "y"), "circuit_open", 0, 0.0, skipped=True),
    ]
    err = RoutingExhaustedError("all failed", attempts=attempts)
    assert err.codes == ("rate_limit", "circuit_open")
    assert "a/x: rate_limit (attempt 1, 12 ms, retried)" in str(err)
    assert "b/y: skipped (circuit_open)" in str(err)
