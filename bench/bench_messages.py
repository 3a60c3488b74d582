"""What `/v1/messages` adds over `/v1/chat/completions`: a short loopback comparison.

Three processes on 127.0.0.1: a fake upstream (aiohttp) answering both wire
formats with fixed bodies (Anthropic's `Message` / its SSE sequence from
tests/fixtures/anthropic, OpenAI's chat.completion / chunks), a laneway
server (uvicorn + laneway's app, as `laneway serve` runs it, audit off), and
this client (httpx, one connection, sequential requests). For each path it
measures the median latency and the laneway process's CPU time per request
(from /proc: the steadier figure on a shared machine):

    direct          the upstream alone (the floor)
    chat            /v1/chat/completions -> OpenAI-format upstream
    messages        /v1/messages -> Anthropic-format upstream (pass-through)
    translated      /v1/messages -> OpenAI-format upstream (translation)

Usage: .venv/bin/python bench/bench_messages.py [requests-per-case]   (default 400)
Loopback only; run it briefly; on a shared machine compare the CPU column.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "anthropic"
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-7",
    "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 9},
}
CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "glm-4.7",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _upstream(port: int) -> None:
    from aiohttp import web

    sse = (FIXTURES / "stream_text.sse").read_bytes()
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.7"}
    chat_sse = (
        b"".join(
            b"data: " + json.dumps({**chunk, "choices": [choice]}).encode() + b"\n\n"
            for choice in (
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Hello!"},
                    "finish_reason": None,
                },
                {"index": 0, "delta": {"content": " How can I help?"}, "finish_reason": None},
                {"index": 0, "delta": {}, "finish_reason": "stop"},
            )
        )
        + b"data: [DONE]\n\n"
    )

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.json_response(MESSAGE)
        return web.Response(body=sse, content_type="text/event-stream")

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            return web.json_response(CHAT)
        return web.Response(body=chat_sse, content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def _laneway(port: int, upstream: str) -> None:
    import uvicorn

    from laneway.engine.gateway import Gateway
    from laneway.server.app import create_app
    from laneway.server.protocol import HttpProtocol

    config: dict[str, Any] = {
        "providers": {
            "claude": {"kind": "anthropic", "base_url": upstream, "api_key": "k"},
            "glm": {"kind": "openai_compatible", "base_url": f"{upstream}/v1", "api_key": "k"},
        },
        "lanes": {
            "planning": {"primary": "claude/claude-opus-4-7"},
            "coding": {"primary": "glm/glm-4.7"},
        },
        "audit": {"enabled": False},
    }
    app = create_app(Gateway.from_config(config, env={}), env={}, owns_process=True)
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http=HttpProtocol, log_level="warning"
    )


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def _run(
    client: httpx.Client, url: str, body: dict[str, Any], n: int, pid: int | None
) -> tuple[float, float]:
    for _ in range(min(50, n)):  # warm-up
        client.post(url, json=body).read()
    cpu0 = _cpu_s(pid) if pid else 0.0
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.post(url, json=body)
        response.read()
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    cpu = (_cpu_s(pid) - cpu0) / n if pid else 0.0
    return statistics.median(times) * 1000, cpu * 1000


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    up_port, lw_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    procs = [
        multiprocessing.Process(target=_upstream, args=(up_port,), daemon=True),
        multiprocessing.Process(target=_laneway, args=(lw_port, upstream), daemon=True),
    ]
    for proc in procs:
        proc.start()
    laneway = f"http://127.0.0.1:{lw_port}"
    _wait(f"{laneway}/healthz")
    hi = [{"role": "user", "content": "Hello"}]
    msg = {"max_tokens": 64, "messages": hi}
    cases = [
        ("direct anthropic", f"{upstream}/v1/messages", {"model": "m", **msg}, None),
        ("direct openai", f"{upstream}/v1/chat/completions", {"model": "m", "messages": hi}, None),
        (
            "chat -> openai",
            f"{laneway}/v1/chat/completions",
            {"model": "coding", "messages": hi},
            procs[1].pid,
        ),
        (
            "messages -> anthropic (pass-through)",
            f"{laneway}/v1/messages",
            {"model": "planning", **msg},
            procs[1].pid,
        ),
        (
            "messages -> openai (translated)",
            f"{laneway}/v1/messages",
            {"model": "coding", **msg},
            procs[1].pid,
        ),
    ]
    print(f"load average: {os.getloadavg()[0]:.2f}; {n} sequential requests per case\n")
    print("| case | stream | p50 ms | laneway CPU ms/request |")
    print("| --- | --- | --- | --- |")
    try:
        with httpx.Client(timeout=10) as client:
            for stream in (False, True):
                for name, url, body, pid in cases:
                    p50, cpu = _run(client, url, {**body, "stream": stream}, n, pid)
                    print(
                        f"| {name} | {stream} | {p50:.2f} | {cpu:.3f} |"
                        if pid
                        else f"| {name} | {stream} | {p50:.2f} | - |"
                    )
    finally:
        for proc in procs:
            proc.terminate()
            proc.join(timeout=5)


if __name__ == "__main__":
    main()
