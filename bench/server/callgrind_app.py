"""Instructions per request of the ASGI app, for A/B comparisons steadier than wall time.

The app is called directly (no HTTP server in front), 32 requests at a time,
against an upstream in the same process (a raw asyncio protocol on loopback
answering the OpenAI spec's fixture bodies), so that valgrind sees every
instruction and nothing depends on another process's timing. Audit lingers 1 s
so that its batching does not depend on valgrind's speed; the GC is tuned as
`laneway serve` tunes it. Run twice with two
request counts; the difference per request cancels start-up:

    bash bench/server/callgrind.sh [json|stream|long|drip] [batched|strict|off|minimal] [0|1]

(`long`: a stream of 200 content deltas, for the cost per delta, that the upstream
writes at once, so that a read brings many of them; `drip`: the same 200 written one
per pass of the loop, so that each read brings one, as a model's tokens arrive;
`minimal`: the floor, a bare forwarding app on laneway's client, JSON only)

(the script prints instructions per request). Directly, without valgrind:

    .venv/bin/python bench/server/callgrind_app.py REQUESTS [json|stream|long] [audit] [metrics]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_transport
from bench_cpu import one

from laneway.audit.sink import StoreSink
from laneway.engine.gateway import Gateway
from laneway.http import default_transport
from laneway.server.app import _tune_gc, create_app

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "openai"
JSON_BODY = (FIXTURES / "chat_completion.json").read_bytes()
SSE_BODY = (FIXTURES / "stream_text.sse").read_bytes()
LONG_DELTAS = 200


def _long_stream() -> bytes:
    """The fixture's stream with 200 content deltas of prose and numbers, as a model's
    answer arrives (a word or two each), for the cost per delta."""
    events = SSE_BODY.split(b"\n\n")
    opening, content, tail = events[0], events[1], events[3:]
    words = ["In", " 2024", " the", " gateway", " served", " 3", " models", " at", " 12.5", " ms"]
    deltas = [
        content.replace(b'"Hello"', orjson.dumps(words[i % len(words)])) for i in range(LONG_DELTAS)
    ]
    return b"\n\n".join([opening, *deltas, *tail])


CONCURRENCY = int(os.environ.get("CONCURRENCY", "32"))  # 1: a strict start commits alone


def _response(body: bytes, content_type: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\nConnection: keep-alive\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


JSON_RESPONSE = _response(JSON_BODY, b"application/json")
SSE_RESPONSE = _response(SSE_BODY, b"text/event-stream")
LONG_RESPONSE = _response(_long_stream(), b"text/event-stream")
#: the long stream's head with its first event, then each further event on its own
_DRIP_EVENTS = [event + b"\n\n" for event in _long_stream().split(b"\n\n")]
_DRIP_EVENTS[-1] = _DRIP_EVENTS[-1][:-2]
DRIP_HEAD = LONG_RESPONSE[: len(LONG_RESPONSE) - len(b"".join(_DRIP_EVENTS[1:]))]


class Upstream(bench_transport.Upstream):
    """Answers with the SSE fixture under `/sse/`, the long stream under `/long/` (at
    once) and `/drip/` (an event per pass of the loop), the JSON fixture elsewhere."""

    def answer(self, head: bytes) -> bytes:
        if head.startswith(b"POST /sse/"):
            return SSE_RESPONSE
        if head.startswith(b"POST /drip/"):
            asyncio.get_running_loop().call_soon(self._drip, 1)
            return DRIP_HEAD
        return LONG_RESPONSE if head.startswith(b"POST /long/") else JSON_RESPONSE

    def _drip(self, index: int) -> None:
        if index < len(_DRIP_EVENTS) and not self.transport.is_closing():
            self.transport.write(_DRIP_EVENTS[index])
            asyncio.get_running_loop().call_soon(self._drip, index + 1)


def config(port: int, audit: str, metrics: bool) -> dict[str, Any]:
    db = Path(tempfile.mkdtemp()) / "audit.db"
    return {
        "providers": {
            "up": {"kind": "openai_compatible", "base_url": f"http://127.0.0.1:{port}/v1"},
            "upsse": {"kind": "openai_compatible", "base_url": f"http://127.0.0.1:{port}/sse/v1"},
            "uplong": {"kind": "openai_compatible", "base_url": f"http://127.0.0.1:{port}/long/v1"},
            "updrip": {"kind": "openai_compatible", "base_url": f"http://127.0.0.1:{port}/drip/v1"},
        },
        "lanes": {
            "bench": {"primary": "up/gpt-4o"},
            "bench_stream": {"primary": "upsse/gpt-4o"},
            "bench_long": {"primary": "uplong/gpt-4o"},
            "bench_drip": {"primary": "updrip/gpt-4o"},
        },
        "server": {"keys": [{"key": "bench-key", "name": "bench"}]},
        "audit": {"enabled": False}
        if audit == "off"
        else {"url": f"sqlite:///{db}", "durability": audit},
        "telemetry": {"metrics": metrics},
    }


def scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"authorization", b"Bearer bench-key"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


def request_body(kind: str) -> bytes:
    """The client's request for `kind` (json, stream, long or drip), to the lane that
    serves it."""
    model = {"stream": "bench_stream", "long": "bench_long", "drip": "bench_drip"}.get(
        kind, "bench"
    )
    stream = "false" if kind == "json" else "true"
    return (
        f'{{"model":"{model}","stream":{stream},'
        '"messages":[{"role":"user","content":"Say hello."}]}'
    ).encode()


def minimal_app(port: int) -> Any:
    """The floor: parse the body, forward it with laneway's client, relay the answer."""
    transport = default_transport()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {"content-type": "application/json"}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = (await receive())["body"]
        orjson.loads(body)
        response = await transport.post(url, headers=headers, body=body, timeout_s=30)
        head = [(b"content-type", response.headers["content-type"].encode())]
        await send({"type": "http.response.start", "status": response.status, "headers": head})
        await send({"type": "http.response.body", "body": response.body})

    return app


async def main(total: int, kind: str, audit: str, metrics: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = (
        None if audit == "minimal" else Gateway.from_config(config(port, audit, metrics), env={})
    )
    app = minimal_app(port) if gateway is None else create_app(gateway, env={})
    store_sink = None if gateway is None else gateway._core.audit
    if isinstance(store_sink, StoreSink):  # rows wait for company 1 s, whatever valgrind's speed
        store_sink.writer._linger_s = 1.0
    _tune_gc()  # as `laneway serve` does at start-up
    body = request_body(kind)
    request_scope = scope(body)
    gone = asyncio.Event()
    indexes = iter(range(total))

    async def worker() -> None:
        for _ in indexes:
            await one(app, gone, body, request_scope)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    if gateway is not None:
        await gateway.aclose()
    server.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    uvloop.run(
        main(
            int(args[0]),
            args[1] if len(args) > 1 else "json",
            args[2] if len(args) > 2 else "batched",
            (args[3] if len(args) > 3 else "1") == "1",
        )
    )
