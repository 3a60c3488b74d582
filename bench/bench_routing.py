"""Static routing speed and `import laneway` cost.

    .venv/bin/python bench/bench_routing.py

1. The median time of one static decision over 20 rules, none of which match
   (the worst case: every rule evaluated and explained), with a lane budget so
   budget-aware selection runs too; once with the router's memo of rule
   evaluations warm (repeated contexts) and once cleared before every call.
   Target: under 20 µs.
2. `import laneway` as `python -X importtime` reports it (cumulative µs of the
   top-level package). Target: under 150 ms.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import timeit

from laneway.config import load_config
from laneway.routing import StaticRoutingProvider
from laneway.types import Complexity, TaskContext

RULES = 20


def build_router() -> StaticRoutingProvider:
    rules = [
        {
            "when": {"phase": f"phase-{i}", "complexity": "high"},
            "model": "anthropic/claude-opus-4-5",
        }
        for i in range(RULES - 2)
    ]
    rules.append({"when": {"team": "infra"}, "model": "zai/glm-4.7"})
    rules.append({"when": {"lane": "review"}, "model": "anthropic/claude-sonnet-4-5"})
    data = {
        "providers": {
            "anthropic": {"kind": "anthropic"},
            "zai": {"kind": "openai_compatible", "preset": "zai"},
            "local": {"kind": "local"},
        },
        "lanes": {
            "coding": {
                "primary": "zai/glm-4.7",
                "fallback": ["anthropic/claude-sonnet-4-5", "local/echo"],
                "budget": {"usd_per_task": 0.5},
            },
            "review": {"primary": "anthropic/claude-sonnet-4-5"},
        },
        "routing": {"rules": rules},
    }
    return StaticRoutingProvider(load_config(data, env={}))


def bench_decision(*, cold: bool) -> float:
    """µs per decision; `cold` rebuilds the router's memo of rule evaluations every call."""
    router = build_router()
    ctx = TaskContext("coding", phase="build", complexity=Complexity.HIGH, metadata={"team": "web"})
    decision = router.route(ctx)
    assert len(decision.explanation) == RULES
    assert decision.rule_index is None
    memo = router._plans["coding"].memo

    def once() -> None:
        if cold:
            memo.clear()
        router.route(ctx)

    number = 2_000
    runs = timeit.repeat(once, number=number, repeat=15)
    return statistics.median(runs) / number * 1e6


def bench_import() -> float:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import laneway"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| laneway$", line)
        if match:
            return int(match.group(1)) / 1000
    raise RuntimeError("no importtime line for laneway")


def main() -> None:
    warm, cold = bench_decision(cold=False), bench_decision(cold=True)
    print(f"static decision over {RULES} rules: {warm:.1f} µs median (memo hit)")
    print(
        f"static decision over {RULES} rules: {cold:.1f} µs median (no memo, all rules evaluated)"
    )
    imports = [bench_import() for _ in range(5)]
    print(f"import laneway: {statistics.median(imports):.1f} ms median of 5 (-X importtime)")


if __name__ == "__main__":
    main()
