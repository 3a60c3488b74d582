"""The most a request can be billed on one model: what a budget reserves before the call.

Input tokens are bounded from the request itself, never guessed:

- text: its UTF-8 bytes. The tokenizers of OpenAI (tiktoken), Anthropic and
  Gemini (SentencePiece with byte fallback) never make a token of less than one
  byte, so a text of N bytes is at most N tokens;
- each message adds `MESSAGE_OVERHEAD_TOKENS` (role and separators: OpenAI's
  cookbook counts 3 or 4 per message; 16 leaves room for the other formats);
- each tool definition: the UTF-8 bytes of its name, description and JSON
  parameters, plus `TOOL_OVERHEAD_TOKENS` for the wrapping the provider adds;
- each image: `IMAGE_TOKENS_BOUND`. The providers' own formulas stay under it:
  Anthropic bills about width*height/750 tokens and scales an image down past
  about 1.15 megapixels (about 1,600 tokens); OpenAI's high detail is 85 + 170
  per 512px tile after scaling to fit 2048x2048 then 768px on the short side
  (at most 1,105), its patch-based models at most 1,536 patches times 1.62
  (2,489); Gemini bills 258 tokens per 768x768 tile of a scaled image.

Output is bounded by `max_tokens`, which the engine always sends on a lane with
a budget (the client's, else the lane's `max_output_tokens`, else
`DEFAULT_MAX_OUTPUT_TOKENS`; never past the model's own output limit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from laneway.types import (
    CompletionRequest,
    ImagePart,
    Message,
    ModelInfo,
    Price,
    Usage,
)

MESSAGE_OVERHEAD_TOKENS = 16
TOOL_OVERHEAD_TOKENS = 32
IMAGE_TOKENS_BOUND = 3_000


@dataclass(frozen=True, slots=True)
class Bound:
    """A request's worst case on one model: tokens each way and their cost (0 when unpriced)."""

    tokens_in: int
    tokens_out: int
    cost_usd: float
    priced: bool

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def input_bound(request: CompletionRequest) -> int:
    """An upper bound on the input tokens any of the supported tokenizers can count."""
    tokens = 0
    for message in request.messages:
        tokens += MESSAGE_OVERHEAD_TOKENS + _message_bytes(message)
    for tool in request.tools:
        shown = tool.name + (tool.description or "") + json.dumps(dict(tool.parameters))
        tokens += TOOL_OVERHEAD_TOKENS + len(shown.encode())
    if request.response_format is not None and request.response_format.schema is not None:
        tokens += TOOL_OVERHEAD_TOKENS + len(json.dumps(dict(request.response_format.schema)))
    return tokens


def _message_bytes(message: Message) -> int:
    size = len(message.text.encode())
    if not isinstance(message.content, str):
        size += IMAGE_TOKENS_BOUND * sum(isinstance(p, ImagePart) for p in message.content)
    for call in message.tool_calls:
        size += len(call.id.encode()) + len(call.name.encode()) + len(call.arguments.encode())
    size += len((message.tool_call_id or "").encode()) + len((message.name or "").encode())
    return size


def output_bound(request: CompletionRequest, info: ModelInfo, lane_max: int | None) -> int:
    """The max_tokens to send: the client's, else the lane's, the model's or the default."""
    return info.output_bound(request.max_tokens, lane_max)


def bound(request: CompletionRequest, info: ModelInfo) -> Bound:
    """The worst case of `request` as it will be sent (its max_tokens set) on `info`'s model."""
    tokens_in = input_bound(request)
    tokens_out = info.output_bound(request.max_tokens)
    price = info.price
    if price is None:
        return Bound(tokens_in, tokens_out, 0.0, priced=False)
    return Bound(tokens_in, tokens_out, price.cost_usd(tokens_in, tokens_out), priced=True)


def output_that_fits(
    tokens_in: int, price: Price | None, *, usd_left: float | None, tokens_left: int | None
) -> int:
    """The most output tokens that keep the worst case within what is left (0: none fit)."""
    fits: list[int] = []
    if tokens_left is not None:
        fits.append(tokens_left - tokens_in)
    if usd_left is not None and price is not None:
        per_token = price.output / 1_000_000
        left = usd_left - price.cost_usd(tokens_in, 0)
        fits.append(int(left / per_token) if per_token > 0 else 1 << 30)
    return max(0, min(fits)) if fits else 1 << 30


def actual_cost_usd(usage: Usage, info: ModelInfo | None = None) -> float:
    """The provider's reported cost when it gives one, else the model's price times usage."""
    if usage.cost_usd is not None:
        return usage.cost_usd
    if info is None or info.price is None:
        return 0.0
    return info.price.cost_usd(usage.input_tokens, usage.output_tokens)
