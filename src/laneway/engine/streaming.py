"""Streaming: the attempt loop of `Gateway.stream`.

Until the first content delta a stream falls back exactly as `complete`
does; from then on it belongs to one model and a failure ends it with an
`ErrorDelta` carrying the trace. Text is held back a little so the PII scan
sees it before the caller does (`stream_guard.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from laneway.engine.run import Action, RequestRun, Slot, timeout_error
from laneway.engine.stream_guard import StreamPiiGuard
from laneway.engine.tasks import ReadDeadline
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
    WireEvent,
)

if TYPE_CHECKING:
    from laneway.config.credentials import Credential


class StreamRun(RequestRun):
    """One streaming request's attempt loop."""

    async def open(self) -> _Opened:
        """Fall back like `complete` until a candidate's first content delta.

        The stream that opened holds its candidate's slot: iterate `rest(opened)`
        next, at once, which releases it. Two steps rather than one generator
        wrapping `rest`: each generator layer costs the stream a registration
        with the loop and every delta one more hop (about 1% of a short stream).
        """
        for candidate in self._plan():
            slot = await self._admit(candidate)
            if slot is None:
                continue
            try:
                opened = await self._first_delta(slot)
            except BaseException:
                await self._release(slot, success=None)
                raise
            if opened is not None:
                return opened
            await self._release(slot, success=None)
            if self.errors and self._last_action == "stop":
                raise self.attach(self.errors[-1])
        raise self.exhausted()

    _last_action: Action | None = None

    async def _first_delta(self, slot: Slot) -> _Opened | None:
        """Open the stream and read to its first content delta, retrying and rotating
        credentials as `complete` does; None when this candidate is done for."""
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
                return None
            started = self._now()
            pending: list[Delta] = []
            content = False  # a text, tool call or finish delta among them
            error: ProviderError | None = None
            iterator = adapter.stream(
                self.request, model.model, timeout_s=timeout_s, credential=credential
            ).__aiter__()
            reads = ReadDeadline(timeout_s + 0.05)  # `rest` moves it to the lane's deadline
            try:
                with reads:
                    async for delta in iterator:
                        if isinstance(delta, ErrorDelta):
                            error = delta.error
                            break
                        pending.append(delta)
                        if isinstance(delta, TextDelta | ToolCallDelta) or (
                            isinstance(delta, WireEvent) and delta.content  # e.g. thinking
                        ):
                            content = True
                            break
                        content = content or isinstance(delta, FinishDelta)
            except ProviderError as exc:
                error = exc
            except TimeoutError:
                error = timeout_error(model, f"no first token within {timeout_s:.1f}s")
            except asyncio.CancelledError:
                reads.close()
                if slot.probe:
                    await self.core.breakers.release_probe(str(model))
                await _close(iterator)
                raise
            except BaseException:
                reads.close()
                raise
            if error is None and not content:
                error = ProviderError(
                    "the stream ended before any content",
                    provider=model.provider,
                    model=model.model,
                    code=ErrorCode.INVALID_RESPONSE,
                )
            if error is not None:
                reads.close()
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
                    return None
                continue
            return _Opened(slot, iterator, pending, reads, started, number, credential)

    async def rest(self, opened: _Opened) -> AsyncGenerator[StreamEvent, None]:
        """`StreamOpened`, the deltas (PII-screened), then `StreamDone` or one `ErrorDelta`;
        the slot is released when this generator ends or is closed.

        The deltas already read come first, then the provider's, each read bounded
        by the lane's deadline: the first delta's `ReadDeadline`, moved (one timer
        for the whole stream), which never cancels the caller's own handling of a
        delta.
        """
        slot, iterator, started, number, credential = (
            opened.slot,
            opened.iterator,
            opened.started,
            opened.number,
            opened.credential,
        )
        model = slot.candidate.model
        final: Completion | None = None
        try:
            label = credential.label if credential is not None else model.provider
            transitions = await self.core.breakers.record_success(str(model), self._wall())
            self._emit_transitions(model, transitions)
            failure: ProviderError | None = None
            collector = _Collector()
            guard = StreamPiiGuard(self.policy)
            screening = guard.active
            reads = opened.reads
            reads.move_to(max(0.05, self.deadline.remaining(self._now())))
            pending = opened.pending
            texts = collector.text
            try:
                yield StreamOpened(
                    model,
                    self.decision,
                    (*self.trace, f"{label}/{model.model}:streaming"),
                    self.request_id,
                )
                while True:  # per delta: the common case, text, takes the fewest steps
                    if pending:
                        delta = pending.pop(0)
                    else:
                        try:
                            with reads:
                                delta = await anext(iterator)
                        except StopAsyncIteration:
                            break
                    if isinstance(delta, TextDelta):
                        texts.append(delta.text)
                        if not screening:
                            yield delta
                            continue
                        ready = guard.feed(delta.text)
                        if ready is None:
                            failure = _pii_failure(model)
                            break
                        if ready:
                            yield TextDelta(ready)
                        continue
                    if isinstance(delta, ErrorDelta):
                        failure = delta.error
                        break
                    collector.add(delta)
                    if held := guard.flush():  # a tool call, usage or finish follows the text
                        yield TextDelta(held)
                    yield delta
                if failure is None and (held := guard.flush()):
                    yield TextDelta(held)
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
                reads.close()
                await _close(iterator)
            if failure is not None and failure.code is not ErrorCode.PII_LEAK:
                held = guard.flush()  # the stream ended: held text, all scanned clean, may go out
                if held:
                    yield TextDelta(held)
            elapsed_ms = (self._now() - started) * 1000
            completion = collector.build(model)
            if failure is None:
                try:
                    validate_output(completion, self.policy, text_scanned=True)
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
                    model,
                    failure.code.value,
                    number,
                    elapsed_ms,
                    retried=False,
                    credential=credential,
                )
                self.attach(failure)  # the request's record needs the trace of a late failure
                yield ErrorDelta(failure, tuple(self.trace))
                return
            self._record(model, "success", number, elapsed_ms, retried=False, credential=credential)
            final = self._finalize(completion, slot, elapsed_ms, credential)
            yield StreamDone(final)
        finally:
            opened.reads.close()
            await self._release(slot, success=final)


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
        try:
            await closer()
        except Exception:  # a broken stream's close must not hide the failure
            return


@dataclass(slots=True)
class _Opened:
    """A stream past its first content delta: what `rest` carries on from."""

    slot: Slot
    iterator: AsyncIterator[Delta]
    pending: list[Delta]  # read already, not yet handed on
    reads: ReadDeadline  # the first delta's bound, for the rest to move to the lane's deadline
    started: float
    number: int  # the attempt's number, for its record
    credential: Credential | None


class _Collector:
    """Builds the final Completion from a stream's deltas.

    Text goes straight into `text` (the stream loop appends it: the hot path);
    every other delta through `add`.
    """

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}
        self.call_meta: dict[int, tuple[str, str]] = {}
        self.usage = Usage()
        self.finish = FinishReason.STOP

    def add(self, delta: Delta) -> None:
        if isinstance(delta, ToolCallDelta):
            parts = self.calls.setdefault(delta.index, [])
            parts.append(delta.arguments)
            old_id, old_name = self.call_meta.get(delta.index, ("", ""))
            self.call_meta[delta.index] = (delta.id or old_id, delta.name or old_name)
        elif isinstance(delta, UsageDelta):
            self.usage = delta.usage
        elif isinstance(delta, FinishDelta):
            self.finish = delta.finish_reason

    def build(self, model: ModelRef) -> Completion:
        calls: tuple[ToolCall, ...] = ()
        if self.calls:  # most streams have none: no comprehension to run
            meta, parts = self.call_meta, self.calls
            calls = tuple([ToolCall(*meta[i], "".join(parts[i])) for i in sorted(parts)])
        return Completion(
            content="".join(self.text),
            provider=model.provider,
            model=model.model,
            finish_reason=self.finish,
            tool_calls=calls,
            usage=self.usage,
        )
