"""Streaming: the attempt loop of `Gateway.stream`.

Until the first content delta a stream falls back exactly as `complete`
does; from then on it belongs to one model and a failure ends it with an
`ErrorDelta` carrying the trace. Text is held back a little so the PII scan
sees it before the caller does (`stream_guard.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING

from laneway.engine.run import Action, RequestRun, Slot, timeout_error
from laneway.engine.stream_guard import StreamPiiGuard
from laneway.engine.tasks import CancelAfter
from laneway.engine.validation import validate_output
from laneway.errors import ErrorCode, OutputRejectedError, ProviderError
from laneway.types import (
    Completion,
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    ModelRef,
    StreamDone,
    StreamEvent,
    StreamOpened,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageDelta,
)

if TYPE_CHECKING:
    from laneway.config.credentials import Credential


class StreamRun(RequestRun):
    """One streaming request's attempt loop."""

    async def stream(self) -> AsyncGenerator[StreamEvent, None]:
        """Fall back like `complete` until the first content delta; never mix two models."""
        for candidate in self._plan():
            slot = await self._admit(candidate)
            if slot is None:
                continue
            final: Completion | None = None
            try:
                opened = False
                # aclosing: a caller leaving early must run every inner `finally` now
                # (close the provider stream, settle the budget), not at garbage collection.
                async with contextlib.aclosing(self._stream_one(slot)) as events:
                    async for event in events:
                        if isinstance(event, StreamOpened):
                            opened = True
                        if isinstance(event, StreamDone):
                            final = event.completion
                        yield event
                if opened:
                    return
            finally:
                await self._release(slot, success=final)
            if self.errors and self._last_action == "stop":
                raise self.attach(self.errors[-1])
        raise self.exhausted()

    _last_action: Action | None = None

    async def _stream_one(self, slot: Slot) -> AsyncGenerator[StreamEvent, None]:
        model = slot.candidate.model
        adapter = self.core.adapters[model.provider]
        credentials = self.core.present_credentials(model.provider)
        index, number = 0, 0
        while True:
            number += 1
            credential = credentials[index] if credentials else None
            timeout_s = self._attempt_budget(model)
            if timeout_s <= 0:
                self.deadline_hit = True
                self._last_action = "deadline"
                return
            started = self._now()
            collector = _Collector()
            pending: list[Delta] = []
            error: ProviderError | None = None
            iterator = adapter.stream(
                self.request, model.model, timeout_s=timeout_s, credential=credential
            ).__aiter__()
            try:
                async with asyncio.timeout(timeout_s + 0.05):
                    async for delta in iterator:
                        if isinstance(delta, ErrorDelta):
                            error = delta.error
                            break
                        pending.append(delta)
                        if isinstance(delta, TextDelta | ToolCallDelta):
                            break
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = timeout_error(model, f"no first token within {timeout_s:.1f}s")
            except asyncio.CancelledError:
                if slot.probe:
                    await self.core.breakers.release_probe(str(model))
                await _close(iterator)
                raise
            if error is None and not any(
                isinstance(d, TextDelta | ToolCallDelta | FinishDelta) for d in pending
            ):
                error = ProviderError(
                    "the stream ended before any content",
                    provider=model.provider,
                    model=model.model,
                    code=ErrorCode.INVALID_RESPONSE,
                )
            if error is not None:
                await _close(iterator)
                elapsed_ms = (self._now() - started) * 1000
                can_rotate = index + 1 < len(credentials)
                step = await self._after_failure(
                    slot, error, number, elapsed_ms, credential, can_rotate
                )
                if step == "rotate":
                    index, number = index + 1, 0
                elif step != "retry":
                    self._last_action = step
                    return
                continue
            rest = self._stream_rest(
                slot, iterator, pending, collector, started, number, credential, timeout_s
            )
            async with contextlib.aclosing(rest):
                async for event in rest:
                    yield event
            return

    async def _stream_rest(
        self,
        slot: Slot,
        iterator: AsyncIterator[Delta],
        pending: list[Delta],
        collector: _Collector,
        started: float,
        number: int,
        credential: Credential | None,
        timeout_s: float,
    ) -> AsyncGenerator[StreamEvent, None]:
        model = slot.candidate.model
        label = credential.label if credential is not None else model.provider
        transitions = await self.core.breakers.record_success(str(model), self._wall())
        self._emit_transitions(model, transitions)
        failure: ProviderError | None = None
        guard = StreamPiiGuard(self.policy)
        deltas = _chain(pending, iterator, lambda: self.deadline.remaining(self._now()))
        try:
            yield StreamOpened(
                model,
                self.decision,
                (*self.trace, f"{label}/{model.model}:streaming"),
                self.request_id,
            )
            async for delta in deltas:
                if isinstance(delta, ErrorDelta):
                    failure = delta.error
                    break
                collector.add(delta)
                released = _screen(delta, guard)
                if released is None:
                    failure = _pii_failure(model)
                    break
                for item in released:
                    yield item
            else:
                if guard.active and (rest := guard.flush()) is None:
                    failure = _pii_failure(model)
                elif guard.active and rest:
                    yield TextDelta(rest)
        except TimeoutError:
            failure = ProviderError(
                "the stream passed the lane's deadline",
                provider=model.provider,
                model=model.model,
                code=ErrorCode.TIMEOUT,
            )
        except ProviderError as exc:  # an adapter that raised instead of yielding ErrorDelta
            failure = exc
        finally:
            await deltas.aclose()
            await _close(iterator)
        if failure is not None and failure.code is not ErrorCode.PII_LEAK and guard.active:
            rest = guard.flush()  # the stream ended: held text that scans clean may go out
            if rest:
                yield TextDelta(rest)
        elapsed_ms = (self._now() - started) * 1000
        completion = collector.build(model)
        if failure is None:
            try:
                validate_output(completion, self.policy)
            except OutputRejectedError as rejection:
                failure = ProviderError(
                    "; ".join(rejection.reasons) or rejection.message,
                    provider=model.provider,
                    model=model.model,
                    code=rejection.code,
                )
        if failure is not None:
            self.errors.append(failure)
            self._record(
                model, failure.code.value, number, elapsed_ms, retried=False, credential=credential
            )
            self.attach(failure)  # the request's record needs the trace of a late failure too
            yield ErrorDelta(failure, tuple(self.trace))
            return
        self._record(model, "success", number, elapsed_ms, retried=False, credential=credential)
        yield StreamDone(self._finalize(completion, slot, elapsed_ms, credential))


async def _chain(
    pending: list[Delta], iterator: AsyncIterator[Delta], remaining_s: Callable[[], float]
) -> AsyncGenerator[Delta, None]:
    """The deltas already read, then the rest, each read bounded by the lane's deadline.

    The deadline wraps only the wait for the provider, never the caller's
    handling of a delta: a timeout must not cancel the consumer's own work.
    """
    for delta in pending:
        yield delta
    while True:
        try:
            with CancelAfter(max(0.05, remaining_s())):
                delta = await anext(iterator)
        except StopAsyncIteration:
            return
        yield delta


def _screen(delta: Delta, guard: StreamPiiGuard) -> list[Delta] | None:
    """What may go to the caller now; None when the held text leaks PII."""
    if not guard.active:
        return [delta]
    if isinstance(delta, TextDelta):
        ready = guard.feed(delta.text)
        if ready is None:
            return None
        return [TextDelta(ready)] if ready else []
    rest = guard.flush()  # anything else (tool call, usage, finish) comes after the text
    if rest is None:
        return None
    return [TextDelta(rest), delta] if rest else [delta]


def _pii_failure(model: ModelRef) -> ProviderError:
    return ProviderError(
        "the stream's output failed the PII scan; the rest of it was withheld",
        provider=model.provider,
        model=model.model,
        code=ErrorCode.PII_LEAK,
    )


async def _close(iterator: AsyncIterator[Delta]) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):  # a broken stream's close must not hide the failure
            await closer()


class _Collector:
    """Builds the final Completion from a stream's deltas."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}
        self.call_meta: dict[int, tuple[str, str]] = {}
        self.usage = Usage()
        self.finish = FinishReason.STOP

    def add(self, delta: Delta) -> None:
        if isinstance(delta, TextDelta):
            self.text.append(delta.text)
        elif isinstance(delta, ToolCallDelta):
            parts = self.calls.setdefault(delta.index, [])
            parts.append(delta.arguments)
            old_id, old_name = self.call_meta.get(delta.index, ("", ""))
            self.call_meta[delta.index] = (delta.id or old_id, delta.name or old_name)
        elif isinstance(delta, UsageDelta):
            self.usage = delta.usage
        elif isinstance(delta, FinishDelta):
            self.finish = delta.finish_reason

    def build(self, model: ModelRef) -> Completion:
        calls = tuple(
            ToolCall(self.call_meta[i][0], self.call_meta[i][1], "".join(self.calls[i]))
            for i in sorted(self.calls)
        )
        return Completion(
            content="".join(self.text),
            provider=model.provider,
            model=model.model,
            finish_reason=self.finish,
            tool_calls=calls,
            usage=self.usage,
        )
