"""Cost of the shared state's Redis round trips per request, and of auditing refusals.

Part 1 runs, per simulated request, the state operations `laneway serve` does
for a key, at `--concurrency` requests at once on one event loop, against the
memory store and against a real Redis (`--redis`, a unique key prefix, deleted
after): a key without limits (breaker admit + success: 2 round trips) and a key
with every limit (rate window, concurrency lease taken and released, key spend
read and added, breaker admit and success, a job budget reserved and
committed: 11 round trips). The difference is what Redis costs a request.

Part 2 times `RefusalAudit.record` (one `rejected` row, queued) into a SQLite
audit log, flushed at the end, against no audit log, at a rate under and over
`audit.refusals_per_s` (sampled out past it).

The machine may be shared: each mode runs `--repeat` times and the best and
median are reported.

    .venv/bin/python bench/bench_state_roundtrips.py [--redis redis://127.0.0.1:6379/0]
        [--requests 4000] [--concurrency 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from laneway.audit.sampling import RefusalSampler
from laneway.audit.sink import StoreSink
from laneway.audit.sqlite import SqliteStore
from laneway.clock import SystemClock
from laneway.server.asgi import Request
from laneway.server.auth import Principal
from laneway.server.errors import ApiError
from laneway.server.limits import RateLimits
from laneway.server.refusals import RefusalAudit
from laneway.state import StateStore, open_state
from laneway.state.base import BreakerParams, ScopeLimit

PARAMS = BreakerParams()
Op = Callable[[StateStore, RateLimits, Principal, int], Awaitable[None]]


async def no_limits(store: StateStore, rates: RateLimits, key: Principal, i: int) -> None:
    now = time.time()
    await store.breakers.apply("openai/gpt", "admit", now, PARAMS)
    await store.breakers.apply("openai/gpt", "success", now, PARAMS)


async def every_limit(store: StateStore, rates: RateLimits, key: Principal, i: int) -> None:
    now = time.time()
    await rates.hit(key)
    lease = f"lease-{i}"
    await store.key_limits.acquire(key.name, lease, 1_000_000, now, 30.0)
    await store.key_limits.spent(key.name, "total")
    await store.breakers.apply("openai/gpt", "admit", now, PARAMS)
    scope = [ScopeLimit("job:bench", usd_nanos=10**15)]
    await store.budgets.reserve(f"res-{i}", scope, 1000, 10)
    await store.breakers.apply("openai/gpt", "success", now, PARAMS)
    await store.budgets.commit(f"res-{i}", ["job:bench"], (1000, 10), (900, 9))
    await store.key_limits.add_spend(key.name, "total", 900, None)
    await store.key_limits.release(key.name, lease)


async def run_state(url: str, op: Op, requests: int, concurrency: int) -> float:
    prefix = f"bench:{uuid.uuid4().hex}:"
    store = open_state(url, prefix=prefix)
    clock = SystemClock()
    rates = RateLimits(url, global_rpm=None, clock=clock)
    key = Principal(name=f"bench-{uuid.uuid4().hex[:8]}", lanes=None, rpm=10**9)
    queue = iter(range(requests))

    async def worker() -> None:
        for i in queue:
            await op(store, rates, key, i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if url.startswith("redis"):
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(url)
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    await store.aclose()
    return elapsed / requests * 1e6


async def run_refusals(audited: bool, requests: int, per_s: float) -> float:
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        sink = StoreSink(SqliteStore(Path(tmp) / "a.db"), clock=clock) if audited else None
        refusals = RefusalAudit(
            sink, RefusalSampler(per_s=per_s, summary_every_s=60, clock=clock), clock
        )
        error = ApiError(
            401, "unknown client key", type="authentication_error", code="invalid_api_key"
        )
        started = time.perf_counter()
        for i in range(requests):
            req = Request("POST", "/v1/chat/completions", f"{i:032x}", b"Bearer sk-x", None, {})
            refusals.record(req, error, started=clock.monotonic(), principal=None)
            if i % 64 == 0:
                await asyncio.sleep(0)  # let the writer run between requests, as a server would
        if sink is not None:
            await sink.aclose()
        return (time.perf_counter() - started) / requests * 1e6


def report(name: str, runs: list[float]) -> None:
    print(f"{name:48s} best {min(runs):8.1f} µs  median {statistics.median(runs):8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"per request, {args.requests} requests, {args.concurrency} at once")
    for name, op in (("key without limits", no_limits), ("key with every limit", every_limit)):
        for url in ("memory://", args.redis):
            runs = [
                asyncio.run(run_state(url, op, args.requests, args.concurrency))
                for _ in range(args.repeat)
            ]
            report(f"{name}, {url.split('://')[0]}", runs)
    print(f"per refusal, {args.requests * 5} refusals in a row")
    for name, audited, per_s in (
        ("no audit log", False, 1e9),
        ("SQLite, every refusal a row", True, 1e9),
        ("SQLite, sampled past 200/s", True, 200.0),
    ):
        runs = [
            asyncio.run(run_refusals(audited, args.requests * 5, per_s)) for _ in range(args.repeat)
        ]
        report(name, runs)


if __name__ == "__main__":
    main()
