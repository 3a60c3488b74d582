"""A request's worst case: input bounded from its bytes, output by the max_tokens sent."""

from __future__ import annotations

import pytest

from laneway.budgets.bound import (
    IMAGE_TOKENS_BOUND,
    MESSAGE_OVERHEAD_TOKENS,
    TOOL_OVERHEAD_TOKENS,
    actual_cost_usd,
    bound,
    input_bound,
    output_that_fits,
)
from laneway.types import (
    DEFAULT_MAX_OUTPUT_TOKENS,
    CompletionRequest,
    ImagePart,
    Message,
    ModelInfo,
    ModelRef,
    Price,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

GLM = ModelInfo(ModelRef("zai", "glm-4.7"), frozenset(), price=Price(input=0.60, output=2.20))


def test_text_is_bounded_by_its_utf8_bytes_not_its_characters() -> None:
    request = CompletionRequest(messages=(Message("user", "héllo 世界"),))  # 9 characters, 13 bytes
    assert input_bound(request) == 13 + MESSAGE_OVERHEAD_TOKENS


def test_tools_tool_calls_and_images_count_too() -> None:
    tool = Tool("grep", "search", {"type": "object"})
    call = ToolCall("call_1", "grep", '{"q": "x"}')
    request = CompletionRequest(
        messages=(
            Message("user", (TextPart("see"), ImagePart("https://x/y.png"))),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "found", tool_call_id="call_1"),
        ),
        tools=(tool,),
    )
    expected = 3 * MESSAGE_OVERHEAD_TOKENS + 3 + IMAGE_TOKENS_BOUND
    expected += len("call_1grep") + len('{"q": "x"}') + len("found") + len("call_1")
    expected += TOOL_OVERHEAD_TOKENS + len('grepsearch{"type": "object"}')
    assert input_bound(request) == expected


def test_output_is_the_max_tokens_sent_else_the_default_within_the_models_limit() -> None:
    asked = CompletionRequest(messages=(Message("user", "hi"),), max_tokens=500)
    worst = bound(asked, GLM)
    assert (worst.tokens_in, worst.tokens_out) == (2 + MESSAGE_OVERHEAD_TOKENS, 500)
    assert worst.cost_usd == pytest.approx((18 * 0.60 + 500 * 2.20) / 1e6)
    plain = CompletionRequest(messages=(Message("user", "hi"),))
    assert bound(plain, GLM).tokens_out == DEFAULT_MAX_OUTPUT_TOKENS
    small = ModelInfo(ModelRef("p", "m"), frozenset(), max_output_tokens=256)
    assert bound(plain, small).tokens_out == 256
    assert small.output_bound(None, lane_max=100) == 100
    assert small.output_bound(None, lane_max=1000) == 256
    assert small.output_bound(2000) == 2000  # the client's own max_tokens is sent as is


def test_unpriced_models_bound_zero_usd() -> None:
    unpriced = ModelInfo(ModelRef("local", "echo"), frozenset())
    worst = bound(CompletionRequest.from_prompt("hi"), unpriced)
    assert (worst.cost_usd, worst.priced) == (0.0, False)


def test_the_output_that_fits_what_is_left() -> None:
    price = Price(input=1.0, output=10.0)
    assert output_that_fits(21, price, usd_left=0.0006, tokens_left=None) == 57
    assert output_that_fits(21, price, usd_left=0.0006, tokens_left=50) == 29
    assert output_that_fits(21, price, usd_left=0.00001, tokens_left=None) == 0


def test_actual_cost_prefers_the_providers_figure() -> None:
    assert actual_cost_usd(Usage(10, 10, cost_usd=0.5), GLM) == 0.5
    assert actual_cost_usd(Usage(1_000_000, 0), GLM) == pytest.approx(0.60)
    assert actual_cost_usd(Usage(1_000_000, 0), None) == 0.0
