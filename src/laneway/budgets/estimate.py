"""What a request will probably cost on one model, before it is sent.

Input tokens come from `CompletionRequest.estimated_input_tokens()` (about
four characters a token). Output tokens are the request's `max_tokens` when
set — the most it can cost — else `DEFAULT_OUTPUT_TOKENS`, lowered to the
model's own output limit when that is smaller. A model with no known price
is estimated at zero USD (`priced=False`), so USD budgets cannot hold it
back; token budgets still can.
"""

from __future__ import annotations

from dataclasses import dataclass

from laneway.types import CompletionRequest, ModelInfo, Usage

#: output tokens assumed when a request does not set max_tokens
DEFAULT_OUTPUT_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class Estimate:
    tokens_in: int
    tokens_out: int
    cost_usd: float
    priced: bool

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def estimate_output_tokens(request: CompletionRequest, info: ModelInfo | None = None) -> int:
    if request.max_tokens is not None:
        return request.max_tokens
    model_cap = info.max_output_tokens if info is not None else None
    if model_cap is not None:
        return min(DEFAULT_OUTPUT_TOKENS, model_cap)
    return DEFAULT_OUTPUT_TOKENS


def estimate_request(request: CompletionRequest, info: ModelInfo | None = None) -> Estimate:
    """Tokens and USD for `request` on the model `info` describes."""
    tokens_in = request.estimated_input_tokens()
    tokens_out = estimate_output_tokens(request, info)
    price = info.price if info is not None else None
    if price is None:
        return Estimate(tokens_in, tokens_out, 0.0, priced=False)
    return Estimate(tokens_in, tokens_out, price.cost_usd(tokens_in, tokens_out), priced=True)


def actual_cost_usd(usage: Usage, info: ModelInfo | None = None) -> float:
    """The provider's reported cost when it gives one, else the model's price times usage."""
    if usage.cost_usd is not None:
        return usage.cost_usd
    if info is None or info.price is None:
        return 0.0
    return info.price.cost_usd(usage.input_tokens, usage.output_tokens)
