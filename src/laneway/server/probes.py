"""Read-only endpoints: `/v1/models`, `/healthz`, `/readyz`, `/metrics`.

`/healthz` says the process answers; `/readyz` says it should get traffic:
start-up finished, config loaded, the rate-limit store, the state store and
the audit store answering within `server.readyz_timeout_s` (the body's `down`
names those that did not), and not shutting down. Neither needs a key, so load
balancers can probe them; the model list does, since it shows what that key
may use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from laneway.server.asgi import JSON, Receive, Request, Send, respond, respond_error
from laneway.server.errors import ApiError
from laneway.server.metrics import render
from laneway.server.openai_wire import render_json, render_models

if TYPE_CHECKING:
    from laneway.engine.gateway import Gateway
    from laneway.server.state import ServerState


def _id(req: Request) -> tuple[bytes, bytes]:
    return (b"x-request-id", req.request_id.encode("ascii"))


async def models(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    try:
        principal = state.keys.authenticate(req.headers.get(b"authorization"))
    except ApiError as exc:
        state.refusals.record(req, exc, started=state.clock.monotonic(), principal=None)
        await respond_error(send, exc, [_id(req)])
        return exc.status
    ids = [(lane, "laneway") for lane in state.config.lanes if principal.may_use(lane)]
    ids += [
        (model, model.partition("/")[0])
        for model, lane in state.lanes.explicit_models.items()
        if principal.may_use(lane) and model not in state.config.lanes
    ]
    await respond(send, 200, render_models(ids, created=0), [_id(req), JSON])
    return 200


async def healthz(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    await respond(send, 200, b'{"status":"ok"}', [_id(req), JSON])
    return 200


async def readyz(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    """Every store is asked at once, each bounded by `server.readyz_timeout_s`: a hung
    Redis makes this answer 503 in that time, naming the store, rather than hang."""
    limit_s = state.spec.readyz_timeout_s
    limits, audit, shared = await asyncio.gather(
        _within(state.limits.check(), limit_s),
        _within(state.gateway.audit_ready(), limit_s),
        _within(_state_store_ready(state), limit_s),
    )
    checks = {
        "config": True,
        "started": state.ready,
        "limits_store": limits,
        "audit_store": audit,
        "state_store": shared,
    }
    ready = all(checks.values())
    payload: dict[str, object] = {"status": "ready" if ready else "not_ready", "checks": checks}
    down = [name for name, ok in checks.items() if not ok and name.endswith("_store")]
    if down:
        payload["down"] = down
    status = 200 if ready else 503
    await respond(send, status, render_json(payload), [_id(req), JSON])
    return status


async def _within(check: Awaitable[bool], limit_s: float) -> bool:
    """The check's answer, False when it fails or takes longer than `limit_s`."""
    try:
        async with asyncio.timeout(limit_s):
            return await check
    except Exception:  # a timeout or the store's own error: either way, not ready
        return False


async def _state_store_ready(state: ServerState) -> bool:
    """The shared state store (`state.url`) answers a read; memory always does."""
    store = state.gateway.state_store
    shared = getattr(store, "shared", store)
    ping = getattr(shared, "ping", None)
    if ping is None:
        return True
    await ping()
    health = getattr(store, "health", None)
    if health is not None:  # answered: requests need not wait out `retry_after_s`
        health.recovered()
    return True


def telemetry_renderer(gateway: Gateway, *, enabled: bool) -> Callable[[], bytes] | None:
    """The gateway's engine metrics (`telemetry.metrics`), subscribed from now on."""
    if not enabled:
        return None
    engine_metrics = gateway.metrics
    return lambda: engine_metrics.render()[0]


async def metrics(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    body, content_type = render(state.metrics, state.telemetry_render)
    await respond(send, 200, body, [_id(req), (b"content-type", content_type.encode())])
    return 200


__all__ = ["healthz", "metrics", "models", "readyz", "render_json"]
