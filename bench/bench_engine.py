"""The engine's own cost per request, and whether memory grows with requests.

    .venv/bin/python bench/bench_engine.py [--requests 20000] [--memory-requests 100000]

The provider is in-process (`local/echo`), audit is off, state is `memory://`,
every lane has the default PII scan. Two lanes: `plain` (no budget) and
`budgeted` (per-task and per-job USD budgets, so the ledger's reserve / commit /
forget path runs every time). Requests run one after another on one loop.

1. Overhead: the median wall time of one `Gateway.complete`, minus the median
   of the same adapter call made directly; both over `--requests` calls after a
   warm-up. Target: under 50 µs.
2. Memory: `tracemalloc` traced bytes after a warm-up of 2,000 requests and
   after `--memory-requests` more (on the budgeted lane, alternating two jobs),
   with a garbage collection before each reading. Target: no growth.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from typing import Any

from laneway.engine.gateway import Gateway
from laneway.types import CompletionRequest, TaskContext

CONFIG: dict[str, Any] = {
    "providers": {
        "local": {"kind": "local", "models": {"echo": {"price": {"input": 0.1, "output": 0.2}}}}
    },
    "lanes": {
        "plain": {"primary": "local/echo"},
        "budgeted": {
            "primary": "local/echo",
            "budget": {"usd_per_task": 1.0, "usd_per_job": 1_000_000.0},
        },
    },
    "audit": {"enabled": False},
}
REQUEST = CompletionRequest.from_prompt("say something short and harmless")


async def time_calls(gw: Gateway, ctx: TaskContext, count: int) -> tuple[float, float]:
    """Median µs of `gw.complete` and of the bare adapter call, interleaved per request."""
    adapter = gw.adapter("local")
    engine: list[float] = []
    bare: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await gw.complete(REQUEST, ctx)
        middle = time.perf_counter()
        await adapter.complete(REQUEST, "echo", timeout_s=60.0)
        ended = time.perf_counter()
        engine.append(middle - started)
        bare.append(ended - middle)
        await asyncio.sleep(0)  # untimed: let the loop drop cancelled timers, as in a server
    return statistics.median(engine) * 1e6, statistics.median(bare) * 1e6


async def serve(gw: Gateway, count: int) -> None:
    """`count` requests, yielding to the loop after each as a server's request tasks do.

    Without the yield an in-process provider never suspends, so the loop never
    runs and never drops the cancelled per-attempt timeout timers: that would
    measure the benchmark's loop, not the engine.
    """
    jobs = (TaskContext(lane="budgeted", job_id="a"), TaskContext(lane="budgeted", job_id="b"))
    for index in range(count):
        await gw.complete(REQUEST, jobs[index % 2])
        await asyncio.sleep(0)


async def traced_growth(gw: Gateway, count: int) -> tuple[int, int]:
    """(bytes traced after the warm-up, bytes traced after `count` more requests)."""
    await serve(gw, 2_000)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    await serve(gw, count)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    return before, after


async def main(requests: int, memory_requests: int) -> None:
    async with Gateway.from_config(CONFIG, env={}) as gw:
        await serve(gw, 2_000)  # warm caches, imports and the router's memo
        for lane in ("plain", "budgeted"):
            ctx = TaskContext(lane=lane, job_id="bench")
            total_us, bare_us = await time_calls(gw, ctx, requests)
            print(
                f"{lane:9s} Gateway.complete {total_us:6.1f} µs, adapter alone {bare_us:5.1f} µs: "
                f"engine overhead {total_us - bare_us:6.1f} µs median over {requests} requests "
                "(target < 50 µs)"
            )

    tracemalloc.start()
    try:
        async with Gateway.from_config(CONFIG, env={}) as gw:
            before, after = await traced_growth(gw, memory_requests)
            scopes = sorted(await gw.budget_report())
    finally:
        tracemalloc.stop()
    growth = after - before
    print(
        f"traced memory {before / 1024:.1f} KiB -> {after / 1024:.1f} KiB over "
        f"{memory_requests} requests: {growth / 1024:+.1f} KiB "
        f"({growth / memory_requests:+.3f} B/request; target: no growth); "
        f"budget scopes held: {scopes}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="engine overhead and memory growth")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.memory_requests))
