"""The ASGI app: `create_app(gateway, config=...)`, a route table and an error guard.

    ErrorGuard            outermost: any exception becomes an OpenAI-shaped 500
      └─ Router           (method, path) -> handler by dict lookup; lifespan
           ├─ RequestGuard  Host, Origin, Content-Type (request_guard.py)
           └─ handlers      chat.py, admin.py, probes.py

The stack is built once here and never changes at run time. No framework on
the hot path: uvicorn (uvloop + httptools) calls this directly, which measured
fastest (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from laneway.audit.sampling import RefusalSampler
from laneway.clock import Clock, SystemClock
from laneway.engine.tasks import TaskSupervisor
from laneway.server import admin, probes
from laneway.server.anthropic_errors import respond_anthropic_error
from laneway.server.asgi import (
    ASGIApp,
    ClientGone,
    Headers,
    Message,
    Receive,
    Request,
    Scope,
    Send,
    read_request,
    respond_error,
)
from laneway.server.auth import KeyRing, lane_models
from laneway.server.chat import chat_completions
from laneway.server.context import LaneResolver
from laneway.server.errors import ApiError, internal_error, shutting_down
from laneway.server.key_limits import KeySlots, KeySpend, period_start
from laneway.server.limits import RateLimits
from laneway.server.messages import count_tokens, messages
from laneway.server.metrics import HttpMetrics
from laneway.server.refusals import RefusalAudit
from laneway.server.request_guard import RequestGuard
from laneway.server.state import KillSwitch, ServerState

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.engine.gateway import Gateway

log = logging.getLogger("laneway.server")

Handler = Callable[[ServerState, Request, Receive, Send], Awaitable[int]]

ROUTES: Mapping[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/messages"): messages,
    ("POST", "/v1/messages/count_tokens"): count_tokens,
    ("GET", "/v1/models"): probes.models,
    ("GET", "/healthz"): probes.healthz,
    ("GET", "/readyz"): probes.readyz,
    ("GET", "/metrics"): probes.metrics,
    ("POST", "/admin/kill-switch"): admin.set_kill_switch,
    ("GET", "/admin/kill-switch"): admin.get_kill_switch,
    ("GET", "/admin/breakers"): admin.breakers,
    ("GET", "/admin/budgets"): admin.budgets,
    ("GET", "/admin/status"): admin.status,
}
_PATHS = frozenset(path for _, path in ROUTES)
#: what `/healthz`, `/readyz`, `/metrics` are not: requests the audit log records
_AUDITED = ("/v1/", "/admin/")
CLIENT_CLOSED = 499  # nginx's code for "the client went away first", for metrics only


def create_app(
    gateway: Gateway,
    *,
    config: Config | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    owns_gateway: bool = True,
    owns_process: bool = False,
) -> ASGIApp:
    """The server for `gateway`. With `owns_gateway`, lifespan shutdown closes it; with
    `owns_process` (`laneway serve`), start-up tunes the process's garbage collector."""
    state = build_state(gateway, config=config, env=env, clock=clock)
    router = Router(state, owns_gateway=owns_gateway, owns_process=owns_process)
    return ErrorGuard(router, state)


def build_state(
    gateway: Gateway,
    *,
    config: Config | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> ServerState:
    """Read keys, limits and the kill switch from config and environment, once."""
    config = config or gateway.config
    env = os.environ if env is None else env
    server = config.spec.server
    clock = clock or SystemClock()
    store = gateway.state_store
    supervisor = TaskSupervisor()
    audit = config.spec.audit
    sampler = RefusalSampler(
        per_s=audit.refusals_per_s, summary_every_s=audit.refusal_summary_s, clock=clock
    )
    return ServerState(
        gateway=gateway,
        config=config,
        clock=clock,
        keys=KeyRing.from_spec(server, lane_models(config)),
        lanes=LaneResolver(config),
        limits=RateLimits(
            config.spec.state.url,
            global_rpm=server.global_rpm,
            clock=clock,
            spec=config.spec.state,
            health=getattr(store, "health", None),
        ),
        slots=KeySlots(store.key_limits, clock=clock, supervisor=supervisor),
        spend=KeySpend(store.key_limits, clock=clock),
        kill_switch=KillSwitch(env=env, spec=server),
        metrics=HttpMetrics(sampled_out=sampler.sampled_out),
        refusals=RefusalAudit(gateway.audit_sink, sampler, clock),
        telemetry_render=probes.telemetry_renderer(gateway, enabled=config.spec.telemetry.metrics),
        supervisor=supervisor,
        degraded={
            name: lane.spec.degraded.message
            for name, lane in config.lanes.items()
            if lane.spec.degraded is not None
        },
    )


async def rebuild_key_spend(state: ServerState) -> None:
    """On `memory://` state, give each budgeted key what the audit log says it spent in its
    period, so a restart does not hand it a fresh budget (Redis keeps the counters itself)."""
    if not state.config.spec.state.url.startswith("memory"):
        return
    sink = state.gateway.audit_sink
    budgeted = tuple(p for p in state.keys.principals if p.budget_usd is not None)
    if not budgeted or sink is None or not hasattr(sink, "spend_by_client"):
        return
    now = state.clock.wall()
    for per in sorted({p.per for p in budgeted}):
        start = period_start(per, now)
        spent = await sink.spend_by_client(0.0 if start is None else start)
        await state.spend.rebuild(tuple(p for p in budgeted if p.per == per), spent)


class Router:
    """Dispatches HTTP requests by (method, path) and runs the lifespan."""

    def __init__(self, state: ServerState, *, owns_gateway: bool, owns_process: bool) -> None:
        self.state = state
        self.guard = RequestGuard.from_spec(state.spec, open_server=state.keys.open)
        self._owns_gateway = owns_gateway
        self._owns_process = owns_process

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        state = self.state
        started = state.clock.monotonic()
        req = read_request(scope, state.new_request_id)
        scope["laneway.request_id"] = req.request_id
        client_request_id = req.client_request_id
        if client_request_id is not None:
            send = _echoing(send, client_request_id)
        handler = ROUTES.get((req.method, req.path))
        route = req.path if handler is not None or req.path in _PATHS else "other"
        refusal = self.guard.refusal(req, takes_body=handler is not None and req.method == "POST")
        try:
            if refusal is not None:
                if req.path.startswith(_AUDITED):  # one row for every API request
                    state.refusals.record(req, refusal, started=started, principal=None)
                status = await _refuse(req, refusal, send)
            elif handler is None:
                status = await _no_route(req, send)
            else:
                status = await handler(state, req, receive, send)
        except ClientGone:
            status = CLIENT_CLOSED
        state.metrics.observe(route, status, state.clock.monotonic() - started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await rebuild_key_spend(self.state)
                except Exception as exc:  # the audit log is down: serve, and say so
                    log.error("key budgets not rebuilt from the audit log: %s", exc)
                if self._owns_process:
                    _tune_gc()
                self.state.ready = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _shutdown(self) -> None:
        """After uvicorn drained in-flight requests: stop watchers, close stores and gateway."""
        state = self.state
        state.ready = False
        state.refusals.close()
        await state.supervisor.aclose()
        await state.limits.aclose()
        if self._owns_gateway:
            await state.gateway.aclose()


def _echoing(send: Send, client_request_id: str) -> Send:
    """`send` that adds `x-client-request-id` (the caller's own id) to the response head."""
    echo = (b"x-client-request-id", client_request_id.encode("ascii"))

    def echoing_send(message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            headers = message.get("headers")
            message["headers"] = [*headers, echo] if isinstance(headers, list) else [echo]
        return send(message)

    return echoing_send


#: allocations between young-generation collections (CPython's default: 700)
GC_YOUNG_THRESHOLD = 10_000


def _tune_gc() -> None:
    """Keep what start-up built (config, prices, pydantic models) out of every later GC pass.

    Those tens of thousands of objects live as long as the process; without this
    each full collection walks them all again, in the middle of some request.
    A request allocates a few hundred objects and frees nearly all of them by
    reference counting, so a rarer young collection finds fewer of them still
    alive, and fewer instructions per request (docs/performance.md, "Measurements behind the code").
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def _refuse(req: Request, error: ApiError, send: Send) -> int:
    """A request `RequestGuard` refused, answered before any handler reads its body."""
    await respond_error(send, error, [(b"x-request-id", req.request_id.encode("ascii"))])
    return error.status


async def _no_route(req: Request, send: Send) -> int:
    if req.path in _PATHS:
        allowed = sorted(method for method, path in ROUTES if path == req.path)
        error = ApiError(
            405,
            f"{req.method} is not allowed on {req.path}; use {' or '.join(allowed)}",
            type="invalid_request_error",
            code="method_not_allowed",
            headers={"allow": ", ".join(allowed)},
        )
    else:
        error = ApiError(
            404,
            f"no endpoint {req.path}; laneway serves /v1/chat/completions, /v1/messages "
            "and /v1/models",
            type="not_found_error",
            code="unknown_endpoint",
        )
    headers = [(b"x-request-id", req.request_id.encode("ascii"))]
    if req.path.startswith(_ANTHROPIC_PATHS):  # an Anthropic client: its own error shape
        return await respond_anthropic_error(send, error, headers, req.request_id)
    await respond_error(send, error, headers)
    return error.status


class ErrorGuard:
    """Outermost middleware: an exception that escapes a handler is our bug.

    Before the response started, the client gets an OpenAI-shaped 500 naming
    the request id (the log has the traceback); after it started, the body is
    ended so the client does not hang. A request cancelled by the server's
    shutdown gets a 503 the SDKs retry, not uvicorn's plain-text 500.
    """

    def __init__(self, app: Router, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        def watched_send(message: Message) -> Awaitable[None]:
            """`send`'s own awaitable: no coroutine of ours per message sent."""
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await self.app(scope, receive, watched_send)
        except asyncio.CancelledError:  # uvicorn past --graceful-timeout (a client that
            if not started:  # leaves is `ClientGone`, not this): say so, in OpenAI's shape
                await respond_error(send, shutting_down(), _id_header(scope))
            raise
        except Exception:
            request_id = str(scope.get("laneway.request_id", "unknown"))
            log.exception("unhandled error in request %s", request_id)
            path = scope.get("path", "")
            self.state.metrics.observe(path if path in _PATHS else "other", 500, 0.0)
            if not started and str(path).startswith(_ANTHROPIC_PATHS):
                await respond_anthropic_error(send, internal_error(request_id), [], request_id)
            elif not started:
                await respond_error(send, internal_error(request_id), _id_header(scope))
            else:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


_ANTHROPIC_PATHS = "/v1/messages"


def _id_header(scope: Scope) -> Headers:
    request_id = str(scope.get("laneway.request_id", "unknown"))
    return [(b"x-request-id", request_id.encode("ascii", "replace"))]


def app_from_env() -> ASGIApp:
    """uvicorn `--factory` entry for worker processes (`laneway serve --workers N`).

    Each worker builds its own gateway from `$LANEWAY_CONFIG` (else ./laneway.yaml
    or the built-in default), read from this process's environment.
    """
    from laneway.engine.gateway import Gateway

    env = dict(os.environ)
    return create_app(Gateway.from_config(None, env=env), env=env, owns_process=True)
