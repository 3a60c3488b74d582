"""`POST /v1/chat/completions`: guards, then one completion, as JSON or as SSE.

Guards in order, cheapest first and before any provider is called: kill switch,
client key, rate limits, body size and shape, lane and its permission, the
key's budget, a concurrency slot (the last two in the state store, shared by
every replica). A refusal by any of them is audited as one `rejected` row.
Then the engine runs under a disconnect watch, so a client that hangs up
cancels the provider call.

Streams send their headers only once a provider has accepted the stream
(`StreamOpened`), so every failure before that is a proper HTTP error; a
failure after it ends the stream with an OpenAI `error` event.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

from laneway.errors import ErrorCode, LanewayError
from laneway.server.answers import DEGRADED as _DEGRADED
from laneway.server.answers import SSE_HEADERS as _SSE_HEADERS
from laneway.server.answers import call_engine as _call
from laneway.server.answers import degraded_stream_message, not_configured_error, spend_settler
from laneway.server.answers import error_headers as _error_headers
from laneway.server.answers import route_headers as _route_headers
from laneway.server.asgi import (
    JSON,
    DisconnectWatch,
    Headers,
    Receive,
    Request,
    Send,
    header_value,
    read_body,
    respond,
    respond_error,
)
from laneway.server.auth import Principal, forbidden_lane, forbidden_model
from laneway.server.context import build_context, context_fields
from laneway.server.errors import (
    ApiError,
    kill_switch_on,
    late_stream_error,
    to_api_error,
)
from laneway.server.openai_wire import (
    DONE,
    ChatRequest,
    ChunkWriter,
    parse_chat_request,
    render_completion,
    render_degraded,
)
from laneway.server.refusals import Admission
from laneway.types import (
    Completion,
    ErrorDelta,
    Outcome,
    StreamBatch,
    StreamDone,
    StreamOpened,
    TaskContext,
    Usage,
)

if TYPE_CHECKING:
    from laneway.server.state import ServerState

log = logging.getLogger("laneway.server")


async def chat_completions(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    """Answer one request; return the status sent (for metrics).

    A refusal before the engine is audited here (`refusals.py`); what the engine
    runs, it records itself: one row per request either way.
    """
    admission = Admission(state.clock.monotonic())
    try:
        chat, ctx, principal = await _admit(state, req, receive, admission)
        lease = None if principal.concurrent is None else await state.slots.acquire(principal)
    except ApiError as exc:
        admission.audit(state, req, exc)
        await respond_error(send, exc, _error_headers(req.request_id, exc))
        return exc.status
    try:
        if chat.stream:
            return await _stream(state, chat, ctx, principal, receive, send)
        return await _complete(state, chat, ctx, principal, receive, send)
    except ApiError as exc:
        await respond_error(send, exc, _error_headers(req.request_id, exc))
        return exc.status
    finally:
        if lease is not None:
            await state.slots.release(lease)


async def _admit(
    state: ServerState, req: Request, receive: Receive, admission: Admission
) -> tuple[ChatRequest, TaskContext, Principal]:
    """Every guard that runs before the engine; raises `ApiError`."""
    if state.kill_switch.on:
        raise kill_switch_on()
    principal = admission.principal = state.keys.authenticate(req.headers.get(b"authorization"))
    if state.limits.apply_to(principal):
        await state.limits.hit(principal)
    spec = state.spec
    raw = await read_body(
        receive,
        limit=spec.max_body_bytes,
        declared=req.content_length,
        timeout_s=state.body_timeout_s,
    )
    chat = parse_chat_request(raw, max_messages=spec.max_messages)
    named, extra = context_fields(req.headers, chat.metadata)
    lane, pinned = state.lanes.resolve(chat.model, named.get("lane"))
    admission.lane = lane
    if not principal.may_use(lane):
        raise forbidden_lane(principal, lane)
    if pinned is not None and not principal.may_pin(str(pinned)):
        raise forbidden_model(principal, str(pinned))
    remaining = None if principal.budget_usd is None else await state.spend.remaining_usd(principal)
    ctx = build_context(
        lane=lane,
        named=named,
        extra=extra,
        user=chat.user,
        request_id=req.request_id,
        budget_remaining_usd=remaining,
        model=pinned,
        client_key=principal.name,
        client_request_id=req.client_request_id,
    )
    return chat, ctx, principal


async def _complete(
    state: ServerState,
    chat: ChatRequest,
    ctx: TaskContext,
    principal: Principal,
    receive: Receive,
    send: Send,
) -> int:
    request_id = ctx.request_id or ""
    try:
        with DisconnectWatch(receive, state.supervisor, state.clock):
            result = await _call(state, chat.request, ctx)
            if isinstance(result, Outcome):
                if result.code == ErrorCode.NOT_CONFIGURED.value:
                    return await _send_not_configured(result, request_id, send)
                return await _send_degraded(state, ctx, result, send)
    except LanewayError as exc:
        if isinstance(exc, ApiError):
            raise
        error = to_api_error(exc, request_id)
        await respond_error(send, error, _error_headers(request_id, exc))
        return error.status
    completion = result
    if principal.budget_usd is not None:  # before the answer: the client's next request,
        await state.spend.record(principal, completion.usage.cost_usd)  # anywhere, sees it
    headers = _completion_headers(request_id, completion, state.header_value)
    body = render_completion(completion, request_id=request_id, created=state.created())
    await respond(send, 200, body, headers)
    return 200


def _completion_headers(
    request_id: str, completion: Completion, values: Callable[[str, int], bytes]
) -> Headers:
    model = f"{completion.provider}/{completion.model}"
    headers = _route_headers(request_id, model, completion.decision, completion.trace, values)
    headers.append(JSON)
    if completion.provider_model is not None:  # the upstream's own name for that model
        headers.append((b"x-laneway-provider-model", values(completion.provider_model, 256)))
    return headers


async def _send_not_configured(outcome: Outcome, request_id: str, send: Send) -> int:
    """A lane its config cannot serve is the operator's to fix: a 503 naming what to set,
    never the lane's degraded answer (that is for providers that fail)."""
    error = not_configured_error(outcome, request_id)
    headers = _route_headers(request_id, None, outcome.decision, outcome.trace)
    await respond_error(send, error, headers)
    return error.status


async def _send_degraded(state: ServerState, ctx: TaskContext, outcome: Outcome, send: Send) -> int:
    request_id = ctx.request_id or ""
    headers = _route_headers(request_id, None, outcome.decision, outcome.trace)
    headers += [JSON, _DEGRADED, (b"x-laneway-degraded-code", header_value(outcome.code or ""))]
    body = render_degraded(
        outcome.content, request_id=request_id, created=state.created(), model=ctx.lane
    )
    await respond(send, 200, body, headers)
    return 200


async def _stream(
    state: ServerState,
    chat: ChatRequest,
    ctx: TaskContext,
    principal: Principal,
    receive: Receive,
    send: Send,
) -> int:
    request_id = ctx.request_id or ""
    # Gateway.stream_batches is an async generator: closing it runs the engine's record
    # (status `interrupted`) when the client goes away mid-stream. A failure before
    # its first event ends it; once it is open, `finally` closes it (not
    # `contextlib.aclosing`, whose two coroutines every stream would pay).
    events = state.gateway.stream_batches(chat.request, ctx)
    with DisconnectWatch(receive, state.supervisor, state.clock) as watch:
        try:
            opened = await anext(events)
        except LanewayError as exc:
            message = degraded_stream_message(state, ctx, exc)
            if message is not None:
                return await _degraded_stream(state, chat, ctx, message, exc, send)
            error = to_api_error(exc, request_id)
            await respond_error(send, error, _error_headers(request_id, exc))
            return error.status
        try:
            if not isinstance(opened, StreamOpened):
                raise RuntimeError(f"the engine's stream began with {type(opened).__name__}")
            writer = ChunkWriter(
                request_id=request_id,
                created=state.created(),
                model=str(opened.model),
                include_usage=chat.include_usage,
            )
            headers = _route_headers(
                request_id, str(opened.model), opened.decision, opened.trace, state.header_value
            )
            headers.extend(_SSE_HEADERS)
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await _relay(events, writer, send, request_id, watch, spend_settler(state, principal))
        finally:
            await events.aclose()
    return 200


async def _relay(
    events: AsyncGenerator[StreamBatch, None],
    writer: ChunkWriter,
    send: Send,
    request_id: str,
    watch: DisconnectWatch,
    settle: Callable[[Usage], Awaitable[None]] | None = None,
) -> Usage | None:
    """Deltas to chunks until the stream ends; the final usage (None without a `StreamDone`).

    `settle(usage)` runs before the closing chunk goes out (a key's spend is counted
    before its client can ask again).

    Every `send` is a socket write, so what carries no new content waits for the
    next write: the opening chunk (the role) goes out with the first content, and
    a finish that came alone with the closing usage chunk and `[DONE]`. What one
    upstream read brought goes out in one send. The closing chunks go out as
    soon as `StreamDone` arrives, before the engine files the request's record; a
    client that leaves once it has them no longer cancels anything.
    """
    usage: Usage | None = None
    held = writer.opening()
    try:
        async for event in events:
            if isinstance(event, list):
                chunks, content = writer.deltas(event)
                if content:
                    body = held + chunks
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    held = b""
                else:
                    held += chunks
            elif isinstance(event, StreamDone):
                usage = event.completion.usage
                if settle is not None:
                    await settle(usage)
                closing = held + writer.usage(usage) + DONE
                await send({"type": "http.response.body", "body": closing})
                watch.settle()
            elif isinstance(event, ErrorDelta):
                await _end_with_error(send, held, late_stream_error(event.error))
                return None
    except Exception as exc:  # the headers are out: the client learns of it in the stream
        if usage is None:  # else the answer is whole already; the engine filed the failure
            await _end_with_error(send, held, to_api_error(exc, request_id))
        elif not isinstance(exc, LanewayError):
            log.error("request %s failed after its answer was sent", request_id, exc_info=exc)
        return usage
    if usage is None:  # ended without its StreamDone: close the answer as it stands
        await send({"type": "http.response.body", "body": held + writer.usage(Usage()) + DONE})
    return usage


async def _end_with_error(send: Send, held: bytes, error: ApiError) -> None:
    await send({"type": "http.response.body", "body": held + ChunkWriter.error(error)})


async def _degraded_stream(
    state: ServerState,
    chat: ChatRequest,
    ctx: TaskContext,
    message: str,
    exc: LanewayError,
    send: Send,
) -> int:
    """The lane's degraded answer as a complete, valid stream."""
    request_id = ctx.request_id or ""
    writer = ChunkWriter(
        request_id=request_id,
        created=state.created(),
        model=ctx.lane,
        include_usage=chat.include_usage,
    )
    headers = _error_headers(request_id, exc)
    code = to_api_error(exc, request_id).code
    headers += [*_SSE_HEADERS, _DEGRADED, (b"x-laneway-degraded-code", header_value(code))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = writer.opening() + writer.text_answer(message) + writer.usage(Usage()) + DONE
    await send({"type": "http.response.body", "body": body})
    return 200
