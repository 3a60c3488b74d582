"""The floor to compare laneway with: a minimal pass-through proxy on the same stack.

uvicorn (uvloop + httptools) + raw ASGI + one pooled HTTP client: parse the
JSON body, read `model`, forward to the upstream, relay status and body. No
auth, routing, audit or metrics.
The client is laneway's default transport (aiohttp, configured as laneway uses it).

    python bench/server/minimal_proxy.py UPSTREAM_URL PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

import uvicorn

from laneway.http import HttpTransport, default_transport

UPSTREAM = sys.argv[1]
HEADERS = {"content-type": "application/json"}
_client: list[HttpTransport] = []


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    json.loads(body)["model"]
    if not _client:
        _client.append(default_transport())
    response = await _client[0].post(UPSTREAM, headers=HEADERS, body=body, timeout_s=30)
    headers = [(b"content-type", response.headers["content-type"].encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


if __name__ == "__main__":
    uvicorn.run(
        app,
        port=int(sys.argv[2]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
