"""CPU per request of `laneway serve`'s ASGI app, in process, upstream in another process.

The app and gateway of `callgrind_app.py` (audit on SQLite, metrics on, the
openai_compatible adapter over laneway's client), driven directly, 32 requests
at a time, after a warm-up; the upstream is `callgrind_app.Upstream` (the
OpenAI spec's fixture bodies) in a child process on the last core, so that
only laneway's own work is timed. Prints `time.process_time()` per request
for each window and the best. Steadier than wrk on a noisy machine, and the
way to compare interpreters (docs/performance.md, "The interpreter"):

    /usr/bin/python3.11 -m venv /tmp/deb && /tmp/deb/bin/pip install -e .
    for py in .venv/bin/python /tmp/deb/bin/python; do
        taskset -c 0 $py bench/server/cpu_in_process.py stream
    done

    python bench/server/cpu_in_process.py [json|stream|long] [--audit batched|strict|off]
        [--requests 5000] [--windows 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import sys
import time
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import callgrind_app
from bench_cpu import one
from bench_transport import serve

from laneway.engine.gateway import Gateway
from laneway.server.app import _tune_gc, create_app


async def measure(port: int, kind: str, audit: str, requests: int, windows: int) -> list[float]:
    gateway = Gateway.from_config(callgrind_app.config(port, audit, True), env={})
    app = create_app(gateway, env={})
    _tune_gc()  # as `laneway serve` does at start-up
    body = callgrind_app.request_body(kind)
    scope = callgrind_app.scope(body)
    gone = asyncio.Event()

    async def batch(total: int) -> None:
        indexes = iter(range(total))

        async def worker() -> None:
            for _ in indexes:
                await one(app, gone, body, scope)

        await asyncio.gather(*(worker() for _ in range(callgrind_app.CONCURRENCY)))

    await batch(2000)  # warm-up: imports, the connection pool, the audit store
    per_request = []
    for _ in range(windows):
        started = time.process_time()
        await batch(requests)
        per_request.append((time.process_time() - started) / requests * 1e6)
    await gateway.aclose()
    return per_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", nargs="?", default="json", choices=["json", "stream", "long"])
    parser.add_argument("--audit", default="batched", choices=["batched", "strict", "off"])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=5)
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    child = multiprocessing.Process(target=serve, args=(sock, callgrind_app.Upstream), daemon=True)
    child.start()
    os.sched_setaffinity(child.pid or 0, {(os.cpu_count() or 1) - 1})
    try:
        port = sock.getsockname()[1]
        runs = uvloop.run(measure(port, args.kind, args.audit, args.requests, args.windows))
    finally:
        child.terminate()
    print(
        f"Python {platform.python_version()} ({sys.executable}) {args.kind} audit={args.audit}: "
        f"{' '.join(f'{run:.1f}' for run in runs)} µs/request, best {min(runs):.1f}"
    )


if __name__ == "__main__":
    main()
