"""`POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages API edge.

The same guards and engine as `/v1/chat/completions` (kill switch, client
key, rate limits, body limits, lane permission, key budget, concurrency;
routing, fallback, retries, breakers, budgets, guard lane, validation,
audit and metrics all happen in the engine), answered in Anthropic's wire
format with its error shapes (`anthropic_errors.py`).

The client key comes from `x-api-key` (the Anthropic SDKs, Claude Code with
`ANTHROPIC_API_KEY`) or `Authorization: Bearer` (`ANTHROPIC_AUTH_TOKEN`,
newer SDKs). `?beta=true` (Claude Code) is the same endpoint; the client's
`anthropic-version` and `anthropic-beta` go to Anthropic-format upstreams as
sent. The answer's `model` is the model that served it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from laneway.errors import ErrorCode, LanewayError, ProviderError
from laneway.events import RequestFinished
from laneway.server.answers import (
    DEGRADED,
    SSE_HEADERS,
    call_engine,
    degraded_stream_message,
    error_headers,
    not_configured_error,
    route_headers,
    spend_settler,
)
from laneway.server.anthropic_errors import respond_anthropic_error
from laneway.server.anthropic_stream import (
    PassthroughStream,
    TranslatedStream,
    Writer,
    feed_all,
)
from laneway.server.anthropic_wire import (
    MessagesRequest,
    parse_messages_request,
    render_message,
    render_text_message,
)
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
)
from laneway.server.auth import Principal, forbidden_lane, forbidden_model
from laneway.server.context import build_context, context_fields
from laneway.server.errors import (
    ApiError,
    kill_switch_on,
    late_stream_error,
    to_api_error,
)
from laneway.server.openai_wire import render_json
from laneway.server.refusals import Admission
from laneway.types import (
    Completion,
    ErrorDelta,
    ModelRef,
    Outcome,
    StreamBatch,
    StreamDone,
    StreamOpened,
    TaskContext,
    Usage,
    WireEvent,
    WirePayload,
)

if TYPE_CHECKING:
    from laneway.server.state import ServerState

log = logging.getLogger("laneway.server")
#: a token count is a quick question: past this, the estimate answers
COUNT_TIMEOUT_S = 10.0


@runtime_checkable
class TokenCounter(Protocol):
    """An adapter that counts a Messages API body's tokens upstream (kind: anthropic)."""

    async def count_tokens(self, payload: WirePayload, model: str, *, timeout_s: float) -> int: ...


async def messages(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    """Answer one Messages API request; return the status sent (for metrics)."""
    admission = Admission(state.clock.monotonic())
    try:
        parsed, ctx, principal = await _admit(state, req, receive, admission, count_only=False)
        lease = await state.slots.acquire(principal)
    except ApiError as exc:  # refused before the engine: audited here (one row per request)
        admission.audit(state, req, exc)
        return await respond_anthropic_error(
            send, exc, error_headers(req.request_id, exc), req.request_id
        )
    try:
        if parsed.stream:
            return await _stream(state, parsed, ctx, principal, receive, send)
        return await _complete(state, parsed, ctx, principal, receive, send)
    except ApiError as exc:
        return await respond_anthropic_error(
            send, exc, error_headers(req.request_id, exc), req.request_id
        )
    finally:
        if lease is not None:
            await state.slots.release(lease)


async def count_tokens(state: ServerState, req: Request, receive: Receive, send: Send) -> int:
    """`{"input_tokens": N}` for the model the request's lane would try first.

    An Anthropic-format model counts them itself (`/v1/messages/count_tokens`
    upstream, free and exact); for any other model, or when that call fails,
    the answer is laneway's own estimate (about four characters a token over
    the system prompt, messages and tools: the one its budgets use) and says
    so in `x-laneway-estimate: true`. No completion is made.
    """
    admission = Admission(state.clock.monotonic())
    try:
        parsed, ctx, _ = await _admit(state, req, receive, admission, count_only=True)
    except ApiError as exc:
        admission.audit(state, req, exc)
        return await respond_anthropic_error(
            send, exc, error_headers(req.request_id, exc), req.request_id
        )
    model = ctx.model or state.config.lanes[ctx.lane].primary
    counted = await _upstream_count(state, parsed, model)
    tokens = parsed.request.estimated_input_tokens() if counted is None else counted
    headers = route_headers(req.request_id, str(model), None, ())
    headers += [JSON, (b"x-laneway-estimate", b"true" if counted is None else b"false")]
    await respond(send, 200, render_json({"input_tokens": tokens}), headers)
    _audit_count(state, req, ctx, model, admission.started, estimated=counted is None)
    return 200


def _audit_count(
    state: ServerState,
    req: Request,
    ctx: TaskContext,
    model: ModelRef,
    started: float,
    *,
    estimated: bool,
) -> None:
    """A served count is a request too: one `success` row, no tokens billed, no cost."""
    sink = state.gateway.audit_sink
    if sink is None:
        return
    how = "estimate" if estimated else "count_tokens"
    sink.record(
        RequestFinished(
            request_id=req.request_id,
            ts=state.clock.wall(),
            context=ctx,
            status="success",
            duration_ms=(state.clock.monotonic() - started) * 1000,
            model=model,
            trace=(f"{model}:{how}",),
            extra={"path": req.path, "estimate": estimated},
        )
    )


async def _upstream_count(
    state: ServerState, parsed: MessagesRequest, model: ModelRef
) -> int | None:
    adapter = state.gateway.adapter(model.provider)
    wire = parsed.request.wire
    if not isinstance(adapter, TokenCounter) or wire is None:
        return None
    try:
        return await adapter.count_tokens(wire, model.model, timeout_s=COUNT_TIMEOUT_S)
    except ProviderError as exc:
        log.info("count_tokens upstream failed (%s); answering the estimate", exc.code.value)
        return None


async def _admit(
    state: ServerState, req: Request, receive: Receive, admission: Admission, *, count_only: bool
) -> tuple[MessagesRequest, TaskContext, Principal]:
    """Every guard that runs before the engine; raises `ApiError`."""
    if state.kill_switch.on and not count_only:
        raise kill_switch_on()
    principal = admission.principal = state.keys.authenticate(_credential(state, req))
    if state.limits.apply_to(principal) and not count_only:
        await state.limits.hit(principal)
    spec = state.spec
    raw = await read_body(
        receive,
        limit=spec.max_body_bytes,
        declared=req.content_length,
        timeout_s=state.body_timeout_s,
    )
    parsed = parse_messages_request(
        raw,
        max_messages=spec.max_messages,
        headers=req.anthropic or {},
        forward_user_id=spec.forward_user_id,
        count_only=count_only,
    )
    named, extra = context_fields(req.headers, {})
    lane, pinned = state.lanes.resolve(parsed.model, named.get("lane"))
    admission.lane = lane
    if not principal.may_use(lane):
        raise forbidden_lane(principal, lane)
    if pinned is not None and not principal.may_pin(str(pinned)):
        raise forbidden_model(principal, str(pinned))
    ctx = build_context(
        lane=lane,
        named=named,
        extra=extra,
        user=parsed.user,
        request_id=req.request_id,
        budget_remaining_usd=await state.spend.remaining_usd(principal),
        model=pinned,
        client_key=principal.name,
        client_request_id=req.client_request_id,
    )
    return parsed, ctx, principal


def _credential(state: ServerState, req: Request) -> bytes | None:
    """`x-api-key` as a bearer token, else `Authorization`; a 401 naming both when neither."""
    api_key = req.headers.get(b"x-api-key")
    if api_key:
        return b"Bearer " + api_key.strip()
    authorization = req.headers.get(b"authorization")
    if authorization is None and not state.keys.open:
        raise ApiError(
            401,
            "missing client key: send it as `x-api-key: <key>` (ANTHROPIC_API_KEY) or "
            "`Authorization: Bearer <key>` (ANTHROPIC_AUTH_TOKEN)",
            type="authentication_error",
            code="invalid_api_key",
        )
    return authorization


def _trace(
    state: ServerState, parsed: MessagesRequest, model: str, trace: tuple[str, ...]
) -> tuple[str, ...]:
    """The engine's trace, plus what a translation left out for a non-Anthropic model."""
    wire = parsed.request.wire
    provider = model.partition("/")[0]
    spec = state.config.spec.providers.get(provider)
    if wire is None or not wire.dropped or spec is None or spec.kind == "anthropic":
        return trace
    return (*trace, f"{model}:dropped({'+'.join(wire.dropped)})")


async def _complete(
    state: ServerState,
    parsed: MessagesRequest,
    ctx: TaskContext,
    principal: Principal,
    receive: Receive,
    send: Send,
) -> int:
    request_id = ctx.request_id or ""
    try:
        with DisconnectWatch(receive, state.supervisor, state.clock):
            result = await call_engine(state, parsed.request, ctx)
    except LanewayError as exc:
        if isinstance(exc, ApiError):
            raise
        error = to_api_error(exc, request_id)
        return await respond_anthropic_error(
            send, error, error_headers(request_id, exc), request_id
        )
    if isinstance(result, Outcome):
        if result.code == ErrorCode.NOT_CONFIGURED.value:  # the operator's to fix: no degrading
            headers = route_headers(request_id, None, result.decision, result.trace)
            error = not_configured_error(result, request_id)
            return await respond_anthropic_error(send, error, headers, request_id)
        return await _send_degraded(state, ctx, result, send)
    completion: Completion = result
    await state.spend.record(principal, completion.usage.cost_usd)
    body = render_message(completion, request_id=request_id)
    model = f"{completion.provider}/{completion.model}"
    trace = _trace(state, parsed, model, completion.trace)
    headers = route_headers(request_id, model, completion.decision, trace, state.header_value)
    headers += [JSON, (b"request-id", request_id.encode("ascii"))]
    if completion.provider_model is not None:  # the upstream's own name for that model
        headers.append(
            (b"x-laneway-provider-model", state.header_value(completion.provider_model, 256))
        )
    await respond(send, 200, body, headers)
    return 200


async def _send_degraded(state: ServerState, ctx: TaskContext, outcome: Outcome, send: Send) -> int:
    request_id = ctx.request_id or ""
    headers = route_headers(request_id, None, outcome.decision, outcome.trace)
    headers += [JSON, DEGRADED, (b"x-laneway-degraded-code", header_value(outcome.code or ""))]
    body = render_text_message(outcome.content, request_id=request_id, model=ctx.lane)
    await respond(send, 200, body, headers)
    return 200


async def _stream(
    state: ServerState,
    parsed: MessagesRequest,
    ctx: TaskContext,
    principal: Principal,
    receive: Receive,
    send: Send,
) -> int:
    """Headers once a provider accepted the stream; then its events (see chat.py's `_stream`)."""
    request_id = ctx.request_id or ""
    events = state.gateway.stream_batches(parsed.request, ctx)
    with DisconnectWatch(receive, state.supervisor, state.clock) as watch:
        try:
            opened = await anext(events)
        except LanewayError as exc:
            message = degraded_stream_message(state, ctx, exc)
            if message is not None:
                return await _degraded_stream(ctx, message, exc, send)
            error = to_api_error(exc, request_id)
            return await respond_anthropic_error(
                send, error, error_headers(request_id, exc), request_id
            )
        try:
            if not isinstance(opened, StreamOpened):
                raise RuntimeError(f"the engine's stream began with {type(opened).__name__}")
            model = str(opened.model)
            trace = _trace(state, parsed, model, opened.trace)
            headers = route_headers(request_id, model, opened.decision, trace, state.header_value)
            headers.extend(SSE_HEADERS)
            headers.append((b"request-id", request_id.encode("ascii")))  # the SDKs' `_request_id`
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            settle = spend_settler(state, principal)
            await _relay(events, send, request_id, opened.model.model, watch, settle)
        finally:
            await events.aclose()
    return 200


async def _relay(
    events: AsyncGenerator[StreamBatch, None],
    send: Send,
    request_id: str,
    model: str,
    watch: DisconnectWatch,
    settle: Callable[[Usage], Awaitable[None]] | None = None,
) -> Usage | None:
    """Events to SSE until the stream ends; the final usage (None without a `StreamDone`).

    The writer is chosen by the first delta: an upstream event (`WireEvent`)
    means the served model speaks this wire format and its events go through.
    What one upstream read brought goes out in one send. `settle(usage)` runs
    before the closing events go out (a key's spend is counted before the client
    can send its next request).
    """
    writer: Writer | None = None
    usage: Usage | None = None
    try:
        async for event in events:
            if isinstance(event, list):
                if writer is None:
                    passthrough = isinstance(event[0], WireEvent)
                    writer = (
                        PassthroughStream(request_id)
                        if passthrough
                        else TranslatedStream(request_id, model)
                    )
                chunk = feed_all(writer, event)
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            elif isinstance(event, StreamDone):
                writer = writer or TranslatedStream(request_id, model)
                usage = event.completion.usage
                if settle is not None:
                    await settle(usage)
                await send({"type": "http.response.body", "body": writer.done(event.completion)})
                watch.settle()
            elif isinstance(event, ErrorDelta):
                writer = writer or TranslatedStream(request_id, model)
                body = writer.error(late_stream_error(event.error))
                await send({"type": "http.response.body", "body": body})
                return None
    except Exception as exc:  # the headers are out: the client learns of it in the stream
        if usage is None:
            writer = writer or TranslatedStream(request_id, model)
            body = writer.error(to_api_error(exc, request_id))
            await send({"type": "http.response.body", "body": body})
        elif not isinstance(exc, LanewayError):
            log.error("request %s failed after its answer was sent", request_id, exc_info=exc)
        return usage
    if usage is None:  # ended without its StreamDone: close the answer as it stands
        writer = writer or TranslatedStream(request_id, model)
        closing = writer.done(Completion("", "laneway", model))
        await send({"type": "http.response.body", "body": closing})
    return usage


async def _degraded_stream(ctx: TaskContext, message: str, exc: LanewayError, send: Send) -> int:
    """The lane's degraded answer as a complete, valid Messages stream."""
    request_id = ctx.request_id or ""
    headers: Headers = error_headers(request_id, exc)
    code = to_api_error(exc, request_id).code
    headers += [*SSE_HEADERS, DEGRADED, (b"x-laneway-degraded-code", header_value(code))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    body = TranslatedStream(request_id, ctx.lane).text_answer(message)
    await send({"type": "http.response.body", "body": body})
    return 200
