"""The server's own CPU per request, in process: ASGI app vs. the engine called directly.

Both paths use the same Gateway with the `fake` provider (no network, audit
and metrics off), so the difference is what `laneway.server` adds: header
reading, auth, body read and parse, context, disconnect watch, rendering.

    .venv/bin/python bench/server/bench_asgi.py [requests]
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from laneway.engine.gateway import Gateway
from laneway.server.app import create_app
from laneway.types import CompletionRequest, TaskContext

CONFIG: dict[str, Any] = {
    "providers": {"fake": {"kind": "fake"}},
    "lanes": {"bench": {"primary": "fake/m"}},
    "server": {"keys": [{"key": "bench-key", "name": "bench"}]},
    "audit": {"enabled": False},
    "telemetry": {"metrics": False},
}
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


async def through_server(app: Any, n: int) -> float:
    gone = asyncio.Event()

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    started = time.perf_counter()
    for _ in range(n):
        sent = False

        async def receive() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": BODY, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - started) / n


async def engine_only(gateway: Gateway, n: int) -> float:
    request = CompletionRequest.from_prompt("Say hello.")
    started = time.perf_counter()
    for _ in range(n):
        await gateway.complete(request, TaskContext(lane="bench"))
    return (time.perf_counter() - started) / n


async def main(n: int) -> None:
    gateway = Gateway.from_config(CONFIG, env={})
    app = create_app(gateway, env={})
    await through_server(app, 500)
    await engine_only(gateway, 500)
    server_s = min([await through_server(app, n) for _ in range(3)])
    engine_s = min([await engine_only(gateway, n) for _ in range(3)])
    print(f"engine alone:      {engine_s * 1e6:7.1f} us/request")
    print(f"server + engine:   {server_s * 1e6:7.1f} us/request")
    print(f"server's own work: {(server_s - engine_s) * 1e6:7.1f} us/request")
    await gateway.aclose()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
