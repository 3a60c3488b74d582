"""Translation cost per request for the openai adapter (target: < 30 µs median).

Measures `build_request` + `parse_response` on a typical request (system +
user message, one tool) and the spec's `chat.completion` example, with and
without the JSON encode/decode around them. Run:

    .venv/bin/python bench/bench_translation.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from laneway.config.schema import OpenAIProvider
from laneway.providers._wire import encode_json, parse_json_body
from laneway.providers.openai_compatible import build_request, parse_response
from laneway.types import CompletionRequest, Message, Tool

BODY = (
    Path(__file__).parents[1] / "tests" / "fixtures" / "openai" / "chat_completion.json"
).read_bytes()
REQUEST = CompletionRequest(
    messages=(
        Message("system", "You are a careful assistant that answers briefly."),
        Message("user", "Summarise the attached ticket in two sentences. " * 4),
    ),
    tools=(
        Tool(
            "search",
            "search the ticket archive",
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        ),
    ),
    temperature=0.2,
    max_tokens=400,
)
SPEC = OpenAIProvider(kind="openai")
DATA = json.loads(BODY)


def pure() -> None:
    build_request(REQUEST, "gpt-4o", SPEC)
    parse_response(DATA, provider="openai", model="gpt-4o")


def with_json() -> None:
    encode_json(build_request(REQUEST, "gpt-4o", SPEC))
    parse_response(parse_json_body("openai", "gpt-4o", BODY), provider="openai", model="gpt-4o")


def measure(fn: object, *, rounds: int = 200, per_round: int = 200) -> tuple[float, float]:
    """Median and p99 of per-call µs, each sample the mean of `per_round` calls."""
    assert callable(fn)
    for _ in range(2000):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(per_round):
            fn()
        samples.append((time.perf_counter_ns() - start) / per_round / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    for name, fn in (("build+parse (dicts)", pure), ("build+parse + JSON bytes", with_json)):
        median, p99 = measure(fn)
        print(f"openai {name:<26} median {median:6.2f} µs   p99 {p99:6.2f} µs")


if __name__ == "__main__":
    main()
