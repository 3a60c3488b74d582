"""Translation cost per request for the anthropic and gemini adapters.

Measures `build_request` + `parse_response` on a typical request (system +
user message, one tool) and a documented text answer (the test fixtures), as
plain dicts and with the JSON encode/decode around them. Run:

    .venv/bin/python bench/bench_translation_anthropic_gemini.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from laneway.providers import anthropic, gemini
from laneway.providers._wire import encode_json, parse_json_body
from laneway.types import CompletionRequest, Message, Tool

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
ANTHROPIC_BODY = (FIXTURES / "anthropic" / "message_text.json").read_bytes()
GEMINI_BODY = (FIXTURES / "gemini" / "generate_text.json").read_bytes()
ANTHROPIC_DATA = parse_json_body("anthropic", "m", ANTHROPIC_BODY)
GEMINI_DATA = parse_json_body("gemini", "m", GEMINI_BODY)
REQUEST = CompletionRequest(
    messages=(
        Message("system", "You are a careful assistant that answers briefly."),
        Message("user", "What is the weather in Paris today? Answer in one sentence."),
    ),
    tools=(
        Tool(
            "get_weather",
            "Current weather for a city",
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        ),
    ),
    temperature=0.2,
    max_tokens=256,
)


def anthropic_pure() -> None:
    anthropic.build_request(REQUEST, "claude-sonnet-4-5", default_max_tokens=4096)
    anthropic.parse_response(ANTHROPIC_DATA)


def anthropic_json() -> None:
    encode_json(anthropic.build_request(REQUEST, "claude-sonnet-4-5", default_max_tokens=4096))
    anthropic.parse_response(parse_json_body("anthropic", "m", ANTHROPIC_BODY))


def gemini_pure() -> None:
    gemini.build_request(REQUEST)
    gemini.parse_response(GEMINI_DATA)


def gemini_json() -> None:
    encode_json(gemini.build_request(REQUEST))
    gemini.parse_response(parse_json_body("gemini", "m", GEMINI_BODY))


def measure(
    fn: Callable[[], None], *, rounds: int = 200, per_round: int = 200
) -> tuple[float, float]:
    """Median and p99 of per-call µs, each sample the mean of `per_round` calls."""
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
    cases = (
        ("anthropic", "build+parse (dicts)", anthropic_pure),
        ("anthropic", "build+parse + JSON bytes", anthropic_json),
        ("gemini", "build+parse (dicts)", gemini_pure),
        ("gemini", "build+parse + JSON bytes", gemini_json),
    )
    for kind, name, fn in cases:
        median, p99 = measure(fn)
        print(f"{kind:<9} {name:<26} median {median:6.2f} µs   p99 {p99:6.2f} µs")


if __name__ == "__main__":
    main()
