"""Admin endpoints (admin key only): kill switch, breaker states, budgets.

    POST /admin/kill-switch {"on": true|false}   -> {"kill_switch": bool}
    GET  /admin/kill-switch                      -> {"kill_switch": bool}
    GET  /admin/breakers                         -> {"breakers": {"provider/model": state}}
    GET  /admin/budgets                          -> {"budgets": {...}, "keys": {...}}
    GET  /admin/status                           -> breakers with next probe times, budgets
                                                    (spent, reserved, left), rate-limit windows
                                                    (server/status.py; `laneway status --url`)

The kill switch flipped here lives in this process (see `state.KillSwitch`).
A refused call (no key, not an admin key) is audited like any refusal.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from laneway.errors import LanewayError
from laneway.server.asgi import JSON, Receive, Request, Send, read_body, respond, respond_error
from laneway.server.auth import admin_required
from laneway.server.errors import ApiError, bad_request, to_api_error
from laneway.server.openai_wire import render_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from laneway.server.state import ServerState

_MAX_ADMIN_BODY = 4096


def _headers(req: Request) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", req.request_id.encode("ascii")), JSON]


def admin_only(
    handler: Callable[[ServerState, Request, Receive], Awaitable[object]],
) -> Callable[[ServerState, Request, Receive, Send], Awaitable[int]]:
    """Authenticate, require an admin principal, answer the handler's value as JSON."""

    async def endpoint(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
        try:
            try:
                principal = state.keys.authenticate(req.headers.get(b"authorization"))
                if not principal.admin:
                    raise admin_required()
            except ApiError as exc:  # refused: audited (an admin's own calls are not requests)
                started = state.clock.monotonic()
                state.refusals.record(req, exc, started=started, principal=None)
                raise
            value = await handler(state, req, receive)
        except LanewayError as exc:  # ApiError, or the state store's StateError
            error = to_api_error(exc, req.request_id)
            await respond_error(send, error, _headers(req))
            return error.status
        await respond(send, 200, render_json(value), _headers(req))
        return 200

    return endpoint


async def _set_kill_switch(state: ServerState, req: Request, receive: Receive) -> object:
    raw = await read_body(
        receive,
        limit=_MAX_ADMIN_BODY,
        declared=req.content_length,
        timeout_s=state.body_timeout_s,
        setting="fixed for the admin endpoints",
    )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    on = body.get("on") if isinstance(body, dict) else None
    if not isinstance(on, bool):
        raise bad_request('send {"on": true} or {"on": false}', param="on", code="invalid_field")
    state.kill_switch.on = on
    return {"kill_switch": on}


async def _get_kill_switch(state: ServerState, req: Request, receive: Receive) -> object:
    return {"kill_switch": state.kill_switch.on}


async def _breakers(state: ServerState, req: Request, receive: Receive) -> object:
    return {"breakers": await state.gateway.breaker_states()}


async def _budgets(state: ServerState, req: Request, receive: Receive) -> object:
    keys = await state.spend.report(state.keys.principals)
    return {"budgets": await state.gateway.budget_report(), "keys": keys}


async def _status(state: ServerState, req: Request, receive: Receive) -> object:
    from laneway.server.status import status_report

    return await status_report(
        state.gateway.state_store,
        state.config,
        now=state.clock.wall(),
        principals=state.keys.principals,
        limits=state.limits,
    )


set_kill_switch = admin_only(_set_kill_switch)
get_kill_switch = admin_only(_get_kill_switch)
breakers = admin_only(_breakers)
budgets = admin_only(_budgets)
status = admin_only(_status)
