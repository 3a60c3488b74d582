"""Upstream calls under failure: the cases of docs/resilience.md, counted, not timed.

Each case runs real adapters (Anthropic, Z.AI on the OpenAI wire, Gemini) over an
`httpx.MockTransport` upstream on a fake clock and prints how many calls reached
the failing upstream (or what a job spent against its limit). It uses the public
API only, so the same script measures an older checkout:

    .venv/bin/python bench/failure_scenarios.py                     # this tree
    PYTHONPATH=../old/src .venv/bin/python bench/failure_scenarios.py   # another
    LANEWAY_BENCH_REDIS=redis://127.0.0.1:6379/3 ...     # + replicas on Redis (its keys
                                                          # laneway:* are deleted first)
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.http import HttpxTransport
from laneway.types import CompletionRequest, ErrorDelta, Message, TaskContext

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
ANTHROPIC, ZAI, GEMINI = "api.anthropic.com", "api.z.ai", "generativelanguage.googleapis.com"
ENV = {"ANTHROPIC_API_KEY": "sk-ant-0", "ZAI_API_KEY": "zai-0", "GEMINI_API_KEY": "gm-0"}
PRICE = {"price": {"input": 1.0, "output": 10.0}}
PROVIDERS: dict[str, Any] = {
    "anthropic": {"kind": "anthropic"},
    "zai": {"kind": "openai_compatible", "preset": "zai", "models": {"glm-4.7": PRICE}},
    "gemini": {"kind": "gemini"},
}
WORK = TaskContext(lane="work")
OPUS, FLASH = "anthropic/claude-opus-4-5", "gemini/gemini-2.5-flash"
Responder = Callable[[httpx.Request], httpx.Response]


def anthropic_error(status: int, kind: str) -> Responder:
    body = {"type": "error", "error": {"type": kind, "message": kind}}
    return lambda request: httpx.Response(status, json=body)


def anthropic_cut(request: httpx.Request) -> httpx.Response:
    events = [e for e in (FIXTURES / "anthropic/stream_text.sse").read_text().split("\n\n")]
    body = ("\n\n".join([e for e in events if e.strip()][:4]) + "\n\n").encode()

    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield body
            raise httpx.ReadError("connection reset by peer")

    return httpx.Response(200, stream=Cut(), headers={"content-type": "text/event-stream"})


def gemini_ok(request: httpx.Request) -> httpx.Response:
    if "streamGenerateContent" in request.url.path:
        body = (FIXTURES / "gemini/stream_text.sse").read_bytes()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, content=(FIXTURES / "gemini/generate_text.json").read_bytes())


def zai_truncated(request: httpx.Request) -> httpx.Response:
    whole = (FIXTURES / "openai/chat_completion.json").read_bytes()
    return httpx.Response(200, content=whole[: len(whole) // 2])


def zai_usage(extra_prompt: int = 0, factor: float = 1.0) -> Responder:
    """Usage of the old estimate (chars / 4) times `factor` plus `extra_prompt`, and
    all of the max_tokens sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        chars = sum(len(m.get("content") or "") + 8 for m in sent["messages"])
        body = json.loads((FIXTURES / "openai/chat_completion.json").read_text())
        prompt = int(chars // 4 * factor) + extra_prompt
        out = int(sent.get("max_tokens") or 100)
        body["usage"] = {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": 0}
        return httpx.Response(200, json=body)

    return answer


class Upstream:
    def __init__(self, routes: dict[str, Responder]) -> None:
        self.routes = routes
        self.calls: Counter[str] = Counter()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answers after a few passes of the loop, so concurrent requests overlap."""
        self.calls[request.url.host] += 1
        for _ in range(3):
            await asyncio.sleep(0)
        return self.routes[request.url.host](request)


def gateway(
    upstream: Upstream, lanes: dict[str, Any], state: str = "memory://", **extra: Any
) -> Gateway:
    cfg = {"providers": PROVIDERS, "lanes": lanes, "audit": {"enabled": False}}
    cfg |= {"state": {"url": state}, **extra}
    transport = HttpxTransport(transport=httpx.MockTransport(upstream))
    return Gateway.from_config(cfg, env=ENV, clock=FakeClock(), transport=transport)


def ask(max_tokens: int | None = None) -> CompletionRequest:
    return CompletionRequest(messages=(Message("user", "hello " * 20),), max_tokens=max_tokens)


async def dead_primary(clients: int, replicas: int, state: str) -> int:
    upstream = Upstream({ANTHROPIC: anthropic_error(503, "api_error"), GEMINI: gemini_ok})
    lanes = {
        "work": {"primary": "anthropic/claude-opus-4-5", "fallback": ["gemini/gemini-2.5-flash"]}
    }
    if state != "memory://":
        await forget_redis_state(state)
    gws = [gateway(upstream, lanes, state) for _ in range(replicas)]  # they share the keys
    await asyncio.gather(*(gws[i % replicas].run(ask(), WORK) for i in range(clients)))
    for gw in gws:
        await gw.aclose()
    return upstream.calls[ANTHROPIC]


async def forget_redis_state(url: str) -> None:
    """Start from no breaker or quarantine: drop laneway's keys from the (bench's own) db."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match="laneway:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def sequential(routes: dict[str, Responder], lanes: dict[str, Any], host: str) -> int:
    upstream = Upstream(routes)
    async with gateway(upstream, lanes) as gw:
        await asyncio.gather(*(gw.run(ask(), WORK) for _ in range(8)))  # 8 in flight first
        for _ in range(92):
            await gw.run(ask(), WORK)
    return upstream.calls[host]


async def cut_streams(streams: int) -> tuple[int, int]:
    upstream = Upstream({ANTHROPIC: anthropic_cut, GEMINI: gemini_ok})
    lanes = {
        "work": {"primary": "anthropic/claude-opus-4-5", "fallback": ["gemini/gemini-2.5-flash"]}
    }
    errors = 0
    async with gateway(upstream, lanes) as gw:
        for _ in range(streams):
            events = [e async for e in gw.stream(ask(), WORK)]
            errors += isinstance(events[-1], ErrorDelta)
    return upstream.calls[ANTHROPIC], errors


async def budget(clients: int, limit: float, responder: Responder) -> tuple[float, int]:
    upstream = Upstream({ZAI: responder})
    lanes = {"work": {"primary": "zai/glm-4.7", "budget": {"usd_per_job": limit}}}
    job = TaskContext(lane="work", job_id="job")
    async with gateway(upstream, lanes) as gw:
        await asyncio.gather(*(gw.run(ask(max_tokens=100), job) for _ in range(clients)))
        spent = (await gw.budget_report())["job:job"]["spent_usd"]
    return spent, upstream.calls[ZAI]


async def downgrades(requests: int) -> int:
    """Decisions whose reasoning `stats --routing` counted, on a one-model lane."""
    lanes = {"work": {"primary": "zai/glm-4.7", "budget": {"usd_per_task": 0.0001}}}
    async with gateway(Upstream({}), lanes) as gw:
        decisions = [gw.route(WORK, ask()) for _ in range(requests)]
    try:
        from laneway.routing.selection import DOWNGRADE

        return sum(DOWNGRADE in d.reasoning for d in decisions)
    except ImportError:  # before: any mention of the budget counted
        return sum("budget" in d.reasoning.lower() for d in decisions)


async def main() -> None:
    redis = os.environ.get("LANEWAY_BENCH_REDIS")
    print("dead primary, 8 concurrent clients: calls to it", await dead_primary(8, 1, "memory://"))
    if redis:
        calls = await dead_primary(30, 3, redis)
        print("dead primary, 3 replicas on Redis, 30 concurrent: calls to it", calls)
    auth = {ANTHROPIC: anthropic_error(401, "authentication_error"), GEMINI: gemini_ok}
    lanes = {
        "work": {
            "primary": "anthropic/claude-opus-4-5",
            "fallback": ["anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"],
        }
    }
    print("401 on every model, 100 requests: calls to it", await sequential(auth, lanes, ANTHROPIC))
    bad = {ZAI: zai_truncated, GEMINI: gemini_ok}
    lanes = {"work": {"primary": "zai/glm-4.7", "fallback": ["gemini/gemini-2.5-flash"]}}
    print("truncated JSON, 100 requests: calls to it", await sequential(bad, lanes, ZAI))
    calls, errors = await cut_streams(20)
    print(f"stream cut after its first delta, 20 streams: calls to it {calls}, cut {errors}")
    # the limit is exactly 48 of the old estimates: 32 prompt tokens (chars / 4) + 100 out
    limit = 48 * (32 * 1.0 + 100 * 10.0) / 1_000_000
    spent, calls = await budget(192, limit, zai_usage(extra_prompt=10))
    print(f"192 concurrent, +10 prompt tokens: spent ${spent:.6f} of ${limit:.6f} ({calls} calls)")
    spent, calls = await budget(200, limit, zai_usage(factor=3.0))
    print(f"200 concurrent, 3x prompt usage: spent ${spent:.6f} of ${limit:.6f} ({calls} calls)")
    print("one-model lane, 384 decisions: downgrades counted", await downgrades(384))


if __name__ == "__main__":
    asyncio.run(main())
