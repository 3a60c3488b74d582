"""CPU per request of the ASGI app with a real HTTP upstream, by audit mode and transport.

No HTTP server in front (the app is called directly, like bench_asgi.py), but
the provider call is real: the openai_compatible adapter over the chosen
transport to bench_transport.py's raw-asyncio upstream, in its own process on
the other core. CPU is `time.process_time()` (every thread of this process,
so the audit and transport threads count), the best of 3 runs. This is how the
audit, metrics and transport changes in docs/performance.md (`## Server`) were
measured; it is steadier than wrk on a shared machine.

    taskset -c 0 .venv/bin/python bench/server/bench_cpu.py [--requests 3000]
        [--audit off strict batched] [--metrics 0 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_transport import serve

from laneway.engine.gateway import Gateway
from laneway.server.app import create_app

BODY = b'{"model":"bench","messages":[{"role":"user","content":"Say hello."}]}'
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/chat/completions",
    "headers": [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer bench-key"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}


def config(upstream: str, audit: str, metrics: bool, db: Path) -> dict[str, Any]:
    audit_spec: dict[str, Any] = (
        {"enabled": False} if audit == "off" else {"url": f"sqlite:///{db}", "durability": audit}
    )
    return {
        "providers": {"up": {"kind": "openai_compatible", "base_url": upstream, "api_key": "k"}},
        "lanes": {"bench": {"primary": "up/gpt-4o"}},
        "server": {"keys": [{"key": "bench-key", "name": "bench"}]},
        "audit": audit_spec,
        "telemetry": {"metrics": metrics},
    }


async def one(
    app: Any, gone: asyncio.Event, body: bytes = BODY, scope: dict[str, Any] = SCOPE
) -> None:
    """One request through the ASGI app; after the body, `receive` waits for `gone`."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    await app(dict(scope), receive, send)


async def drive(app: Any, total: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per request."""
    gone = asyncio.Event()
    indexes = iter(range(total))

    async def worker() -> None:
        for _ in indexes:
            await one(app, gone)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu) / total * 1e6, (time.perf_counter() - wall) / total * 1e6


async def measure(upstream: str, audit: str, metrics: bool, total: int) -> None:
    db = Path(tempfile.mkdtemp()) / "audit.db"
    gateway = Gateway.from_config(config(upstream, audit, metrics, db), env={})
    app = create_app(gateway, env={})
    await drive(app, 300, 4)  # warm-up: imports, connection pool, audit store
    client = "aiohttp"  # the one upstream client since the hand-written one was removed
    for concurrency in (1, 32):
        runs = [await drive(app, total, concurrency) for _ in range(3)]
        cpu = min(run[0] for run in runs)
        wall = min(run[1] for run in runs)
        print(
            f"| {client} | {audit} | {'on' if metrics else 'off'} | {concurrency} "
            f"| {cpu:.0f} | {wall:.0f} |"
        )
    await gateway.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--audit", nargs="+", default=["off", "strict", "batched"])
    parser.add_argument("--metrics", nargs="+", type=int, default=[1])
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    upstream = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    child = multiprocessing.Process(target=serve, args=(sock,), daemon=True)
    child.start()
    last_core = (os.cpu_count() or 1) - 1
    os.sched_setaffinity(child.pid or 0, {last_core})  # off the core this process is pinned to
    import uvloop

    print("| client | audit | metrics | concurrency | CPU µs/request | wall µs/request |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    try:
        for audit in args.audit:
            for metrics in args.metrics:
                uvloop.run(measure(upstream, audit, bool(metrics), args.requests))
    finally:
        child.terminate()


if __name__ == "__main__":
    main()
