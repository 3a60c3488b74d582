"""The floor to compare laneway with: a minimal pass-through proxy on the same stack.

uvicorn (uvloop + httptools) + raw ASGI + one pooled aiohttp session: parse the
JSON body, read `model`, forward to the upstream, relay status and body. No
auth, routing, audit or metrics. The same shape as PERFORMANCE-NOTES.md's proxies.

    python bench/server/minimal_proxy.py UPSTREAM_URL PORT
"""

from __future__ import annotations

import json
import sys
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = sys.argv[1]
_session: list[aiohttp.ClientSession] = []


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
    if not _session:
        _session.append(aiohttp.ClientSession())
    async with _session[0].post(
        UPSTREAM, data=body, headers={"content-type": "application/json"}
    ) as response:
        data = await response.read()
        headers = [(b"content-type", response.headers["content-type"].encode())]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


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
