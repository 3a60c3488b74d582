"""What every completion endpoint shares: the engine call and the `x-laneway-*` headers.

`/v1/chat/completions` and `/v1/messages` answer in different wire formats
but call the engine the same way and say the same things about how an answer
was made: which model served it, the routing decision and the trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from laneway.errors import ErrorCode, LanewayError, ProviderError
from laneway.server.asgi import Headers, header_value
from laneway.server.errors import ApiError, not_configured, to_api_error
from laneway.types import (
    Completion,
    CompletionRequest,
    Outcome,
    RoutingDecision,
    TaskContext,
    Usage,
)

if TYPE_CHECKING:
    from laneway.server.auth import Principal
    from laneway.server.state import ServerState

_NONE = b"none"
SSE_HEADERS = (
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
DEGRADED = (b"x-laneway-degraded", b"true")


def route_headers(
    request_id: str,
    model: str | None,
    decision: RoutingDecision | None,
    trace: tuple[str, ...],
    values: Callable[[str, int], bytes] = header_value,
) -> Headers:
    """The four headers every answer carries; `none` where not known."""
    return [
        (b"x-request-id", request_id.encode("ascii")),
        (b"x-laneway-model", values(model, 256) if model else _NONE),
        (
            b"x-laneway-decision",
            values(f"{decision.method}: {decision.reasoning}", 512) if decision else _NONE,
        ),
        (b"x-laneway-trace", values(",".join(trace), 1024) if trace else _NONE),
    ]


def error_headers(request_id: str, exc: BaseException) -> Headers:
    """No model served the answer; the engine's decision and trace say what was tried."""
    if isinstance(exc, LanewayError):
        return route_headers(request_id, None, exc.decision, exc.trace)
    return route_headers(request_id, None, None, ())


def not_configured_error(outcome: Outcome, request_id: str) -> ApiError:
    """A lane its config cannot serve is the operator's to fix: the error naming what to
    set, never the lane's degraded answer (that is for providers that fail)."""
    error = to_api_error(outcome.errors[0], request_id) if outcome.errors else None
    if error is None or error.code != ErrorCode.NOT_CONFIGURED.value:
        error = not_configured(outcome.error or "a provider of the lane lacks its credentials")
    return error


def degraded_message(state: ServerState, lane: str) -> str | None:
    """The lane's configured degraded answer, if it has one."""
    return state.degraded.get(lane)


def degraded_stream_message(state: ServerState, ctx: TaskContext, exc: LanewayError) -> str | None:
    """What to stream when the engine's stream failed before it opened: the lane's
    degraded answer for a provider failure, None for an error answer (a lane its config
    cannot serve, or a refusal the server raised itself)."""
    if isinstance(exc, ApiError):
        raise exc
    if isinstance(exc, ProviderError) and exc.code is ErrorCode.NOT_CONFIGURED:
        return None
    return degraded_message(state, ctx.lane)


def spend_settler(
    state: ServerState, principal: Principal
) -> Callable[[Usage], Awaitable[None]] | None:
    """What counts a streamed answer's cost against its key before the closing events go
    out (so the key's next request sees it); None for a key without a budget."""
    if principal.budget_usd is None:
        return None

    async def settle(usage: Usage) -> None:
        await state.spend.record(principal, usage.cost_usd)

    return settle


def call_engine(
    state: ServerState, request: CompletionRequest, ctx: TaskContext
) -> Awaitable[Completion | Outcome]:
    """`complete`, or for a lane with a degraded answer `run` (its Outcome when degraded).

    A plain function handing back the engine's own awaitable: the usual request
    pays for no coroutine of ours around it.
    """
    if degraded_message(state, ctx.lane) is None:
        return state.gateway.complete(request, ctx)
    return _run_degradable(state, request, ctx)


async def _run_degradable(
    state: ServerState, request: CompletionRequest, ctx: TaskContext
) -> Completion | Outcome:
    outcome = await state.gateway.run(request, ctx)
    return outcome if outcome.completion is None else outcome.completion
