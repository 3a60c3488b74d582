"""Cost of `policies:` per candidate: ten declarative policies, compiled once.

Measures, with `timeit` (best and median of `--repeat` runs; the machine is
shared, and the best is the least disturbed by other processes):

- `judge`: `first_denial` over the ten policies for one candidate that every
  policy allows: the worst case (every check of every policy runs) and the
  common one. Target: under 5 µs per candidate.
- `applicable`: matching the ten policies' `when:` against a context, once per
  request (not per candidate).
- `deny`: one candidate denied by the last policy (the reason string is built).
- `review`: the engine's whole review (`review_policies`) of a three-candidate
  decision that every policy allows, per candidate, including the coroutine.

    .venv/bin/python bench/bench_policies.py [--number 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import timeit
from typing import Any

from laneway.clock import FakeClock
from laneway.config.loader import load_mapping
from laneway.engine.bus import EventBus
from laneway.engine.policy_review import review_policies
from laneway.policies import compile_policies, first_denial
from laneway.types import Complexity, ModelRef, RoutingDecision, TaskContext

POLICIES: list[dict[str, Any]] = [
    {
        "name": "eu-only",
        "when": {"tags": ["eu"]},
        "allow_providers": ["anthropic", "zai", "local"],
    },
    {
        "name": "opus-planning-only",
        "when": {"lane_not": ["planning"]},
        "deny_models": ["anthropic/claude-opus-*"],
    },
    {
        "name": "review-cap",
        "when": {"lane": ["review", "coding"]},
        "max_price_usd_per_mtok": {"output": 15},
    },
    {"name": "known-providers", "allow_providers": ["anthropic", "zai", "local"]},
    {"name": "no-preview", "deny_models": ["*/*-preview", "*/*-exp*"]},
    {"name": "tools", "when": {"phase": ["code", "plan"]}, "requires": ["tools"]},
    {"name": "input-cap", "max_price_usd_per_mtok": {"input": 10}},
    {"name": "approved", "allow_models": ["anthropic/claude-*", "zai/glm-*", "local/*"]},
    {
        "name": "batch-cheap",
        "when": {"job": ["nightly-*"]},
        "max_price_usd_per_mtok": {"output": 20},
    },
    {
        "name": "no-openai",
        "when": {"complexity": ["low", "medium", "high"]},
        "deny_providers": ["openai"],
    },
]
CONFIG: dict[str, Any] = {
    "providers": {
        "anthropic": {
            "kind": "fake",
            "models": {
                "claude-sonnet-4-5": {
                    "price": {"input": 3, "output": 15},
                    "capabilities": ["tools"],
                }
            },
        },
        "zai": {
            "kind": "fake",
            "models": {
                "glm-4.7": {"price": {"input": 0.6, "output": 2.2}, "capabilities": ["tools"]}
            },
        },
        "openai": {"kind": "fake", "models": {"gpt-4o": {"price": {"input": 2.5, "output": 10}}}},
        "local": {
            "kind": "fake",
            "models": {"small": {"price": {"input": 0, "output": 0}, "capabilities": ["tools"]}},
        },
    },
    "lanes": {
        "coding": {
            "primary": "anthropic/claude-sonnet-4-5",
            "fallback": ["zai/glm-4.7", "local/small"],
        },
        "planning": {"primary": "anthropic/claude-opus-4-5"},
        "review": {"primary": "openai/gpt-4o"},
    },
    "policies": POLICIES,
    "audit": {"enabled": False},
}
CTX = TaskContext(
    lane="coding",
    phase="code",
    complexity=Complexity.HIGH,
    job_id="nightly-1",
    tags=frozenset({"eu"}),
)


class Host:
    def __init__(self) -> None:
        self.config = load_mapping(CONFIG, env={})
        self.policies = compile_policies(self.config.spec.policies)
        self.clock = FakeClock()
        self.bus = EventBus()

    def model_info(self, model: ModelRef) -> Any:
        return self.config.model_info(model)

    def request_id_of(self, ctx: TaskContext) -> str:
        return "bench"


def report(name: str, runs: list[float], number: int, per: int = 1) -> None:
    per_op = [run / number / per * 1e6 for run in runs]
    print(f"{name:<11} best {min(per_op):6.3f} µs   median {statistics.median(per_op):6.3f} µs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    host = Host()
    policies = host.policies
    applicable = policies.applicable(CTX)
    assert len(applicable) == 10, [p.name for p in applicable]  # every `when:` holds for CTX
    all_ten = applicable
    infos = [host.model_info(ref) for ref in host.config.lanes["coding"].candidates]
    sonnet = infos[0]
    for info in infos:
        assert first_denial(all_ten, info, None) is None, info
    denied = host.model_info(ModelRef("openai", "gpt-4o"))
    assert first_denial(all_ten, denied, None) is not None
    n, r = args.number, args.repeat
    print(f"10 declarative policies; {n} iterations x {r} runs (shared machine: see the median)")
    report(
        "judge", timeit.repeat(lambda: first_denial(all_ten, sonnet, None), number=n, repeat=r), n
    )
    report("applicable", timeit.repeat(lambda: policies.applicable(CTX), number=n, repeat=r), n)
    report(
        "deny", timeit.repeat(lambda: first_denial(all_ten, denied, None), number=n, repeat=r), n
    )
    decision = RoutingDecision(infos[0].ref, (infos[1].ref, infos[2].ref), "bench", "static")

    async def reviews(count: int) -> None:
        for _ in range(count):
            await review_policies(host, decision, CTX, None)  # type: ignore[arg-type]

    def run_reviews() -> None:
        asyncio.run(reviews(n // 10))

    runs = timeit.repeat(run_reviews, number=1, repeat=r)
    report("review", runs, n // 10, per=len(infos))


if __name__ == "__main__":
    main()
