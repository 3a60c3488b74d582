"""`Gateway`: the library's front door. Guards, routing, the attempt loop and the record.

gw = Gateway.from_config("laneway.yaml")
completion = await gw.complete(CompletionRequest.from_prompt("hi"), TaskContext(lane="coding"))
outcome = await gw.run(request, ctx)        # never raises
async for event in gw.stream(request, ctx): ...
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from laneway.budgets.bound import input_bound
from laneway.config.output_schema import REQUEST_SCHEMA_MAX_BYTES, schema_problem
from laneway.engine.core import EngineCore
from laneway.engine.encodable import lone_surrogate_error
from laneway.engine.guard import judge
from laneway.engine.pii import deidentify
from laneway.engine.policy_review import review_policies, routing_model_allowed
from laneway.engine.record import Recorder, degraded_outcome
from laneway.engine.run import RequestRun
from laneway.engine.streaming import StreamRun
from laneway.engine.validation import OutputPolicy, Validator
from laneway.errors import (
    ErrorCode,
    LanewayError,
    ProviderError,
    RequestError,
)
from laneway.events import DecisionMade, Event
from laneway.types import (
    Completion,
    CompletionRequest,
    Delta,
    ErrorDelta,
    FinishReason,
    Message,
    ModelRef,
    Outcome,
    RoutingDecision,
    StreamBatch,
    StreamDone,
    StreamEvent,
    TaskContext,
    TextPart,
)

if TYPE_CHECKING:
    from laneway.audit.sink import AuditSink
    from laneway.clock import Clock
    from laneway.config.model import Config, Lane
    from laneway.config.schema import GuardSpec
    from laneway.http import HttpTransport
    from laneway.providers.base import Adapter
    from laneway.state.base import StateStore
    from laneway.telemetry.metrics import Metrics


log = logging.getLogger("laneway.engine")


class Gateway:
    """One process's gateway: config, adapters, state, routing and audit, built once."""

    def __init__(self, core: EngineCore) -> None:
        self._core = core
        self._record = Recorder(core)
        self._lane_policies: dict[str, OutputPolicy] = {}
        self._metrics: Metrics | None = None

    @classmethod
    def from_config(
        cls,
        source: str | Path | Mapping[str, Any] | Config | None = None,
        *,
        env: Mapping[str, str] | None = None,
        transport: HttpTransport | None = None,
        clock: Clock | None = None,
        audit: AuditSink | None = None,
    ) -> Gateway:
        """Load and check the config, then build adapters, state and audit (no network)."""
        return cls(EngineCore.build(source, env=env, transport=transport, clock=clock, audit=audit))

    # -- introspection --------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._core.config

    def adapter(self, provider_id: str) -> Adapter:
        return self._core.adapter(provider_id)

    @property
    def state_store(self) -> StateStore:
        """The store of breakers, budgets and key limits (`laneway status`, the server)."""
        return self._core.state

    def subscribe(self, subscriber: Callable[[Event], None]) -> None:
        self._core.bus.subscribe(subscriber)

    @property
    def metrics(self) -> Metrics:
        """Prometheus metrics of this gateway, subscribed on first use (free until then)."""
        if self._metrics is None:
            from laneway.telemetry.metrics import Metrics

            self._metrics = Metrics()
            self._core.bus.subscribe(self._metrics)
        return self._metrics

    def route(self, ctx: TaskContext, request: CompletionRequest | None = None) -> RoutingDecision:
        """The routing decision alone; no call is made."""
        tokens = input_bound(request) if request is not None else None
        self._core.config.lane(ctx.lane)
        if ctx.model is not None:
            return _pinned(ctx.model)
        max_tokens = request.max_tokens if request is not None else None
        return self._core.routing.route(ctx, input_tokens=tokens, max_tokens=max_tokens)

    async def breaker_states(self) -> dict[str, str]:
        return await self._core.breaker_states()

    async def budget_report(self) -> dict[str, dict[str, float]]:
        return await self._core.budget_report()

    @property
    def audit_sink(self) -> AuditSink | None:
        """Where request rows go (None with audit off); the server records refusals there."""
        return self._core.audit

    async def audit_ready(self) -> bool:
        """Whether the audit store opens and answers (True with audit off)."""
        from laneway.audit.sink import StoreSink

        sink = self._core.audit
        return await sink.ready() if isinstance(sink, StoreSink) else True

    # -- the three ways to ask ------------------------------------------------

    async def complete(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Completion:
        """One completion, with fallback. Raises `RoutingExhaustedError`,
        `BudgetExceededError`, `OutputRejectedError` or a caller-fault `ProviderError`."""
        ctx, lane, request = self._prepare(request, ctx)
        started = self._core.clock.monotonic()
        await self._record.start(request, ctx)
        try:
            completion = await self._complete(request, ctx, lane, output_model, validators)
        except LanewayError as exc:
            self._record.failure(ctx, exc, started, degraded=False)
            raise
        except Exception:  # a bug, not the caller leaving
            self._record.finish(ctx, "failed", started, error_code=ErrorCode.UNKNOWN.value)
            raise
        except BaseException:
            self._record.finish(ctx, "interrupted", started)
            raise
        self._record.success_after(ctx, completion, started)
        return completion

    async def run(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Outcome:
        """Like `complete`, but never raises: a failure becomes a degraded `Outcome`."""
        if ctx.request_id is None:  # so even an unknown lane's outcome carries an id
            ctx = ctx.with_request_id(self._core.new_request_id())
        try:
            ctx, lane, request = self._prepare(request, ctx)
        except LanewayError as exc:
            return degraded_outcome(exc, ctx.request_id or "", message="")
        started = self._core.clock.monotonic()
        try:
            await self._record.start(request, ctx)
            completion = await self._complete(request, ctx, lane, output_model, validators)
        except LanewayError as exc:
            self._record.failure(ctx, exc, started, degraded=True)
            message = lane.spec.degraded.message if lane.spec.degraded else ""
            return degraded_outcome(exc, ctx.request_id or "", message=message)
        except Exception as exc:  # the promise: run() never raises for a request's failure
            log.exception("request %s failed inside laneway", ctx.request_id)
            self._record.finish(ctx, "failed", started, error_code=ErrorCode.UNKNOWN.value)
            wrapped = LanewayError(f"internal error: {type(exc).__name__}")
            message = lane.spec.degraded.message if lane.spec.degraded else ""
            return degraded_outcome(wrapped, ctx.request_id or "", message=message)
        self._record.success_after(ctx, completion, started)
        return Outcome(
            status="ok",
            completion=completion,
            content=completion.content,
            decision=completion.decision,
            trace=completion.trace,
            attempts=completion.attempts,
            request_id=completion.request_id,
        )

    async def stream(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> AsyncIterator[StreamEvent]:
        """`StreamOpened`, deltas, then `StreamDone`, or an `ErrorDelta` after a late failure."""
        batches = self.stream_batches(
            request, ctx, output_model=output_model, validators=validators
        )
        try:
            async for item in batches:
                if isinstance(item, list):
                    for delta in item:
                        yield delta
                else:
                    yield item
        finally:
            await batches.aclose()

    async def stream_batches(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> AsyncGenerator[StreamBatch, None]:
        """`stream` with the deltas of each upstream read in one list (the server's way:
        one rendering and one send per read)."""
        ctx, lane, request = self._prepare(request, ctx)
        started = self._core.clock.monotonic()
        await self._record.start(request, ctx)
        done: Completion | None = None
        late: ErrorDelta | None = None
        try:
            guard, budget = lane.spec.guard, lane.spec.budget
            blocked = None if guard is None else await self._guard(request, ctx, guard)
            if blocked is not None:
                done = blocked
                for event in _replay(blocked, self._core.request_id_of(ctx)):
                    yield event
                # a `return` here skips the record after `try`: the row stayed `pending`
                self._record_stream_end(ctx, done, late, started)
                return
            run_ctx = ctx if budget is None else await self._core.with_budget_left(ctx, budget)
            decision = await self._decide(run_ctx, request)
            run = StreamRun(
                self._core,
                request,
                run_ctx,
                lane,
                decision,
                self._policy(lane, run_ctx, request, output_model, validators),
                request_id=self._core.request_id_of(ctx),
                streaming=True,
            )
            try:
                opened = await run.open()
                # nothing may run between: `rest` releases the slot `open` took
                events = run.rest(opened)
                try:  # `aclosing`'s work without its two coroutines per stream
                    async for event in events:
                        if isinstance(event, StreamDone):
                            done = event.completion
                        elif isinstance(event, ErrorDelta):
                            late = event
                        yield event
                finally:
                    await events.aclose()
            finally:  # as in `_complete`: the per-task budget scope must not outlive the stream
                if budget is not None:
                    await self._core.forget_task(ctx, budget)
        except LanewayError as exc:
            self._record.failure(ctx, exc, started, degraded=False)
            raise
        except Exception:  # a bug, not the caller leaving
            self._record.finish(ctx, "failed", started, error_code=ErrorCode.UNKNOWN.value)
            raise
        except BaseException:  # closed or cancelled: after its last event, the stream ended
            if done is None and late is None:
                self._record.finish(ctx, "interrupted", started)
            else:
                self._record_stream_end(ctx, done, late, started)
            raise
        self._record_stream_end(ctx, done, late, started)

    def _record_stream_end(
        self, ctx: TaskContext, done: Completion | None, late: ErrorDelta | None, started: float
    ) -> None:
        if done is not None:
            self._record.success(ctx, done, started)
        elif late is not None:
            self._record.failure(ctx, late.error, started, degraded=False)
        else:
            self._record.finish(ctx, "failed", started, error_code="stream_error")

    # -- lifecycle ------------------------------------------------------------

    async def aclose(self) -> None:
        self._record.emit_due()
        await self._core.aclose()

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- the steps ------------------------------------------------------------

    def _prepare(
        self, request: CompletionRequest, ctx: TaskContext
    ) -> tuple[TaskContext, Lane, CompletionRequest]:
        if ctx.request_id is None:
            ctx = ctx.with_request_id(self._core.new_request_id())
        try:
            return self._checked(request, ctx)
        except LanewayError as exc:  # refused before its start: still one row for it
            self._record.refused(ctx, exc)
            raise

    def _checked(
        self, request: CompletionRequest, ctx: TaskContext
    ) -> tuple[TaskContext, Lane, CompletionRequest]:
        lane = self._core.config.lane(ctx.lane)
        if not request.messages:
            raise ProviderError(
                "the request has no messages",
                provider="laneway",
                code=ErrorCode.BAD_REQUEST,
            )
        unencodable = lone_surrogate_error(request.messages)
        if unencodable is not None:
            raise unencodable
        response_format = request.response_format
        if response_format is not None and response_format.schema is not None:
            problem = schema_problem(response_format.schema, max_bytes=REQUEST_SCHEMA_MAX_BYTES)
            if problem is not None:
                raise RequestError(
                    f"not a usable JSON Schema: {problem}",
                    param="response_format.json_schema.schema",
                )
        if ctx.redact:
            request = _deidentified(request, ctx.redact)
        return ctx, lane, request

    async def _decide(self, ctx: TaskContext, request: CompletionRequest) -> RoutingDecision:
        core = self._core
        if ctx.model is not None:
            decision = _pinned(ctx.model)
        elif core.config.spec.routing.method == "llm_enhanced" and await routing_model_allowed(
            core, ctx
        ):
            from laneway.engine.enhanced import decide_enhanced

            decision = await decide_enhanced(core, ctx, request)
        else:
            routing = core.routing
            tokens = input_bound(request) if routing.uses_input_tokens else None
            decision = routing.route(ctx, input_tokens=tokens, max_tokens=request.max_tokens)
        if core.policies:  # may raise policy_denied
            decision = await review_policies(core, decision, ctx, request)
        if core.bus.wants(DecisionMade):
            core.bus.emit(DecisionMade(core.request_id_of(ctx), core.clock.wall(), decision))
        return decision

    async def _complete(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        lane: Lane,
        output_model: type[BaseModel] | None,
        validators: Sequence[Validator],
    ) -> Completion:
        guard, budget = lane.spec.guard, lane.spec.budget
        if guard is not None:
            blocked = await self._guard(request, ctx, guard)
            if blocked is not None:
                return blocked
        if budget is not None:
            ctx = await self._core.with_budget_left(ctx, budget)
        decision = await self._decide(ctx, request)
        policy = self._policy(lane, ctx, request, output_model, validators)
        run = RequestRun(
            self._core,
            request,
            ctx,
            lane,
            decision,
            policy,
            request_id=self._core.request_id_of(ctx),
        )
        try:
            return await run.complete()
        finally:
            if budget is not None:
                await self._core.forget_task(ctx, budget)

    async def _guard(
        self, request: CompletionRequest, ctx: TaskContext, guard: GuardSpec
    ) -> Completion | None:
        """Run the lane's guard first; a risky input gets the configured answer, no main call."""
        guard_ctx = replace(ctx, lane=guard.lane, requires=frozenset())
        guard_lane = self._core.config.lane(guard.lane)
        decision = await review_policies(
            self._core, self._core.routing.route(guard_ctx), guard_ctx, None
        )
        run = RequestRun(
            self._core,
            # the guard model judges the text alone: never the client's own wire body
            replace(request, stream=False, tools=(), response_format=None, wire=None),
            guard_ctx,
            guard_lane,
            decision,
            OutputPolicy(),
            request_id=self._core.request_id_of(ctx),
        )
        try:
            verdict = judge((await run.complete()).content, guard.block_at)
        except LanewayError:
            verdict = judge("", guard.block_at)  # fail closed: an unreadable guard blocks
        if not verdict.blocked:
            return None
        reason = f"guard lane {guard.lane!r} judged the input {verdict.risk} risk"
        return Completion(
            content=guard.message,
            provider="laneway",
            model=f"guard:{guard.lane}",
            finish_reason=FinishReason.CONTENT_FILTER,
            decision=RoutingDecision(
                model=decision.model,
                fallback_chain=(),
                reasoning=f"{reason}: {guard.action}"
                + (f" ({verdict.reason})" if verdict.reason else ""),
                method="guard",
            ),
            trace=(*run.trace, f"guard/{guard.lane}:{guard.action}({verdict.risk})"),
            attempts=tuple(run.attempts),
            request_id=self._core.request_id_of(ctx),
        )

    def _policy(
        self,
        lane: Lane,
        ctx: TaskContext,
        request: CompletionRequest,
        output_model: type[BaseModel] | None,
        validators: Sequence[Validator],
    ) -> OutputPolicy:
        plain = (
            output_model is None and not validators and request.response_format is None
        ) and not ctx.redact
        if plain:  # the common case depends on the lane alone
            cached = self._lane_policies.get(lane.name)
            if cached is None:
                cached = self._lane_policies[lane.name] = self._build_policy(
                    lane, ctx, request, None, ()
                )
            return cached
        return self._build_policy(lane, ctx, request, output_model, validators)

    def _build_policy(
        self,
        lane: Lane,
        ctx: TaskContext,
        request: CompletionRequest,
        output_model: type[BaseModel] | None,
        validators: Sequence[Validator],
    ) -> OutputPolicy:
        schema = lane.output_schema
        response_format = request.response_format
        if schema is None and response_format is not None and response_format.schema is not None:
            schema = response_format.schema
        json_required = response_format is not None and response_format.type != "text"
        pii = lane.spec.pii
        return OutputPolicy(
            json_required=json_required,
            schema=schema,
            model=output_model,
            validators=tuple(validators),
            pii_emails=pii.scan and pii.emails,
            pii_phones=pii.scan and pii.phones,
            redact=ctx.redact if pii.scan else (),
        )


def _pinned(model: ModelRef) -> RoutingDecision:
    return RoutingDecision(
        model=model,
        fallback_chain=(),
        reasoning=f"model {model} pinned by the caller (no routing, no fallback)",
        method="pinned",
    )


def _replay(completion: Completion, request_id: str) -> list[StreamBatch]:
    from laneway.types import FinishDelta, StreamOpened, TextDelta

    assert completion.decision is not None
    opened = StreamOpened(completion.model_ref, completion.decision, completion.trace, request_id)
    deltas: list[Delta] = [TextDelta(completion.content), FinishDelta(completion.finish_reason)]
    return [opened, deltas, StreamDone(completion)]


def _deidentified(request: CompletionRequest, names: Sequence[str]) -> CompletionRequest:
    def clean(message: Message) -> Message:
        if isinstance(message.content, str):
            return replace(message, content=deidentify(message.content, names))
        parts = tuple(
            TextPart(deidentify(p.text, names)) if isinstance(p, TextPart) else p
            for p in message.content
        )
        return replace(message, content=parts)

    # the client's wire body holds the names too: only the cleaned translation goes out
    return replace(request, messages=tuple(clean(m) for m in request.messages), wire=None)
