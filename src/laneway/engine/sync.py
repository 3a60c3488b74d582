"""`SyncGateway`: the same Gateway for code without an event loop.

One private event loop per SyncGateway (an `asyncio.Runner`), so pooled
connections survive between calls. Not for use from inside a running loop:
there, use `Gateway` directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from laneway.engine.gateway import Gateway
from laneway.engine.validation import Validator
from laneway.events import Event
from laneway.types import (
    Completion,
    CompletionRequest,
    Outcome,
    RoutingDecision,
    StreamBatch,
    StreamEvent,
    TaskContext,
)

if TYPE_CHECKING:
    from laneway.audit.sink import AuditSink
    from laneway.clock import Clock
    from laneway.config.model import Config
    from laneway.http import HttpTransport
    from laneway.providers.base import Adapter
    from laneway.state.base import StateStore
    from laneway.telemetry.metrics import Metrics

T = TypeVar("T")


class SyncGateway:
    def __init__(self, gateway: Gateway, runner: asyncio.Runner) -> None:
        self._gateway = gateway
        self._runner = runner

    @classmethod
    def from_config(
        cls,
        source: str | Path | Mapping[str, Any] | Config | None = None,
        *,
        env: Mapping[str, str] | None = None,
        transport: HttpTransport | None = None,
        clock: Clock | None = None,
        audit: AuditSink | None = None,
    ) -> SyncGateway:
        runner = asyncio.Runner()
        gateway = Gateway.from_config(
            source, env=env, transport=transport, clock=clock, audit=audit
        )
        return cls(gateway, runner)

    @property
    def config(self) -> Config:
        return self._gateway.config

    @property
    def state_store(self) -> StateStore:
        """The store of breakers and budgets (read-only use: `laneway status`)."""
        return self._gateway.state_store

    @property
    def gateway(self) -> Gateway:
        return self._gateway

    def adapter(self, provider_id: str) -> Adapter:
        return self._gateway.adapter(provider_id)

    def subscribe(self, subscriber: Callable[[Event], None]) -> None:
        self._gateway.subscribe(subscriber)

    @property
    def metrics(self) -> Metrics:
        return self._gateway.metrics

    def route(self, ctx: TaskContext, request: CompletionRequest | None = None) -> RoutingDecision:
        return self._gateway.route(ctx, request)

    def complete(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Completion:
        return self._runner.run(
            self._gateway.complete(request, ctx, output_model=output_model, validators=validators)
        )

    def run(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Outcome:
        return self._runner.run(
            self._gateway.run(request, ctx, output_model=output_model, validators=validators)
        )

    def stream(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Iterator[StreamEvent]:
        return self._blocking(
            self._gateway.stream(request, ctx, output_model=output_model, validators=validators)
        )

    def stream_batches(
        self,
        request: CompletionRequest,
        ctx: TaskContext,
        *,
        output_model: type[BaseModel] | None = None,
        validators: Sequence[Validator] = (),
    ) -> Iterator[StreamBatch]:
        return self._blocking(
            self._gateway.stream_batches(
                request, ctx, output_model=output_model, validators=validators
            )
        )

    def _blocking(self, items: AsyncIterator[T]) -> Iterator[T]:
        """An async stream's items, each awaited on this gateway's loop."""
        events = items.__aiter__()

        async def step() -> T | None:
            try:
                return await events.__anext__()
            except StopAsyncIteration:
                return None

        async def close() -> None:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                await closer()

        try:
            while (event := self._runner.run(step())) is not None:
                yield event
        finally:
            self._runner.run(close())

    def breaker_states(self) -> dict[str, str]:
        return self._runner.run(self._gateway.breaker_states())

    def budget_report(self) -> dict[str, dict[str, float]]:
        return self._runner.run(self._gateway.budget_report())

    def audit_ready(self) -> bool:
        return self._runner.run(self._gateway.audit_ready())

    def close(self) -> None:
        try:
            self._runner.run(self._gateway.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncGateway:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
