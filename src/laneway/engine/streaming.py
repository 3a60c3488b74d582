"""Streaming: the attempt plan of `Gateway.stream`, then one model's deltas.

Until the first content delta a stream falls back exactly as `complete` does
(the same `RequestRun._run`). From then on it belongs to one model: a failure
ends it with an `ErrorDelta` carrying the trace, unless the lane names models
to continue on (`stream.continue_on`) that accept an assistant prefill. Text is
held back a little so the PII scan sees it before the caller does
(`stream_guard.py`). The breaker and the credential learn a stream's outcome
when it ends, not when it opens.

Deltas travel in lists, one per upstream read (`Adapter.stream_batches`): the
scan sees a read's text at once and the server writes it in one send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field, replace

from laneway.engine.plan import Candidate
from laneway.engine.run import RequestRun, Slot, timeout_error
from laneway.engine.stream_guard import StreamPiiGuard
from laneway.engine.validation import validate_output
from laneway.errors import ErrorCode, LanewayError, OutputRejectedError, ProviderError
from laneway.providers.base import stream_batches
from laneway.resilience.attempts import Call
from laneway.types import (
    Capability,
    Completion,
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    Message,
    ModelRef,
    StreamBatch,
    StreamDone,
    StreamOpened,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageDelta,
    WireEvent,
)


class StreamRun(RequestRun):
    """One streaming request's attempt loop."""

    async def open(self) -> _Opened:
        """Fall back like `complete` until a candidate's first content delta.

        The stream that opened holds its candidate's slot: iterate `rest(opened)`
        next, at once, which releases it.
        """
        won = await self._run(self._open_call, _keep, settle_on_answer=False)
        if won is None:
            raise self.exhausted()
        return won[0]

    async def _open_call(self, slot: Slot, step: Call) -> _Opened | ProviderError:
        """Open the stream and read to its first content delta within the attempt's time."""
        model = step.model
        adapter = self.core.adapters[model.provider]
        started = self._now()
        pending: list[list[Delta]] = []
        begun = False  # a text, tool call or content wire event among them
        finished = False  # a finish delta among them
        error: ProviderError | None = None
        iterator = stream_batches(
            adapter, slot.request, model.model, timeout_s=step.timeout_s, credential=slot.credential
        )
        try:
            async with asyncio.timeout(step.timeout_s + 0.05):
                async for batch in iterator:
                    pending.append(batch)
                    for delta in batch:
                        if isinstance(delta, ErrorDelta):
                            error = delta.error
                            break
                        if isinstance(delta, TextDelta | ToolCallDelta) or (
                            isinstance(delta, WireEvent) and delta.content  # e.g. thinking
                        ):
                            begun = True
                            break
                        finished = finished or isinstance(delta, FinishDelta)
                    if begun or error is not None:
                        break
        except ProviderError as exc:
            error = exc
        except TimeoutError:
            error = timeout_error(model, f"no first token within {step.timeout_s:.1f}s")
        except BaseException:
            await _close(iterator)
            raise
        if error is None and not (begun or finished):
            error = ProviderError(
                "the stream ended before any content",
                provider=model.provider,
                model=model.model,
                code=ErrorCode.INVALID_RESPONSE,
            )
        if error is not None:
            await _close(iterator)
            return error
        # from here on what is left of the lane's deadline bounds each read
        due = asyncio.get_running_loop().time() + max(0.05, self.deadline.remaining(self._now()))
        return _Opened(slot, iterator, pending, started, step.number, due)

    async def rest(self, opened: _Opened) -> AsyncGenerator[StreamBatch, None]:
        """`StreamOpened`, the deltas of each upstream read as one list (PII-screened), then
        `StreamDone` or one `ErrorDelta`; every slot is released when this generator ends or
        is closed.

        Each read is bounded by what is left of the lane's deadline, so the timer never
        cancels the caller's own handling of a list. The reading loop is here, not in a
        generator of its own: each layer is paid per read.
        """
        read = _Read(guard=StreamPiiGuard(self.policy))
        current: _Opened | None = opened
        try:
            model = opened.slot.candidate.model
            yield StreamOpened(
                model,
                self.decision,
                (*self.trace, f"{opened.label}/{model.model}:streaming"),
                self.request_id,
            )
            while current is not None:
                iterator, pending, due = current.iterator, current.pending, current.due
                model = current.slot.candidate.model
                read.failure = None
                try:
                    while True:
                        if pending:
                            batch = pending.pop(0)
                        else:
                            try:
                                async with asyncio.timeout_at(due):
                                    batch = await anext(iterator)
                            except StopAsyncIteration:
                                break
                        screened = read.screen(batch, model)
                        if screened:
                            yield screened
                        if read.failure is not None:
                            break
                    if read.failure is None and (held := read.guard.flush()):
                        yield [TextDelta(held)]
                except TimeoutError:
                    read.failure = ProviderError(
                        "the stream passed the lane's deadline",
                        provider=model.provider,
                        model=model.model,
                        code=ErrorCode.TIMEOUT,
                    )
                except ProviderError as exc:  # an adapter that raised instead of an ErrorDelta
                    read.failure = exc
                finally:
                    await _close(iterator)
                follow = await self._continuation(current, read)
                if follow is None:
                    break
                current = follow
            assert current is not None
            held = read.held_after_failure()
            if held:
                yield [TextDelta(held)]
            yield await self._finish(current, read)
            current = None
        finally:
            if current is not None:  # closed early: no verdict on the model or credential
                await self._release_probes(current.slot)
                await self._release(current.slot, success=None)

    async def _finish(self, opened: _Opened, read: _Read) -> StreamDone | ErrorDelta:
        """Validate, tell the breaker and the credential how the stream ended, release the
        slot; the stream's last event."""
        slot = opened.slot
        model = slot.candidate.model
        elapsed_ms = (self._now() - opened.started) * 1000
        completion = read.collector.build(model)
        failure = read.failure
        caller_fault = failure is not None and failure.code is ErrorCode.PII_LEAK
        if failure is None:
            try:
                validate_output(completion, self.policy, text_scanned=True)
            except OutputRejectedError as rejection:
                caller_fault = True
                failure = ProviderError(
                    "; ".join(rejection.reasons) or rejection.message,
                    provider=model.provider,
                    model=model.model,
                    code=rejection.code,
                )
        if failure is not None:
            if not read.settled:  # a failed continuation settled the cut stream already
                await self._close_failed(
                    opened, failure, elapsed_ms, health=not caller_fault, retried=False
                )
            self.attach(failure)  # the request's record needs the trace of a late failure
            return ErrorDelta(failure, tuple(self.trace))
        await self._settle(slot, None)
        self._record(
            model, "success", opened.number, elapsed_ms, retried=False, credential=slot.credential
        )
        final = self._finalize(completion, slot, elapsed_ms)
        await self._release(slot, success=final)
        return StreamDone(final)

    async def _close_failed(
        self,
        opened: _Opened,
        failure: ProviderError,
        elapsed_ms: float,
        *,
        health: bool,
        retried: bool,
    ) -> None:
        """An opened stream that failed: tell the breaker when the provider was at fault
        (`health`), free its budget and record the attempt."""
        slot = opened.slot
        await self._settle(slot, failure if health else None)
        await self._release(slot, success=None)
        self.errors.append(failure)
        self._record(
            slot.candidate.model,
            failure.code.value,
            opened.number,
            elapsed_ms,
            retried=retried,
            credential=slot.credential,
        )

    # -- continuing a cut stream on another model -------------------------------------

    async def _continuation(self, opened: _Opened, read: _Read) -> _Opened | None:
        """After a provider fault mid-stream, the next `stream.continue_on` model that accepts
        the text so far as an assistant prefill, opened; None when the failure stands."""
        failure = read.failure
        targets = self.lane.spec.stream.continue_on
        if failure is None or failure.code is ErrorCode.PII_LEAK or not targets:
            return None
        if self.request.tools or read.collector.calls:
            return None  # a prefill cannot carry tool calls; see docs/resilience.md
        candidates = self._continue_candidates(targets, opened.slot.candidate.model)
        if not candidates:
            return None
        elapsed_ms = (self._now() - opened.started) * 1000
        await self._close_failed(opened, failure, elapsed_ms, health=True, retried=True)
        partial = "".join(read.collector.text)
        prefill = partial.rstrip()
        read.pending_trim = partial[len(prefill) :]
        request = replace(
            self.request, messages=(*self.request.messages, Message("assistant", prefill))
        )
        try:
            won = await self._run(
                self._open_call,
                _keep,
                settle_on_answer=False,
                candidates=candidates,
                request=request,
            )
        except LanewayError:  # a caller fault on the continuation: the cut stands
            won = None
        if won is None:
            read.pending_trim = ""
            read.settled = True
            return None
        follow = won[0]
        self.trace.append(f"{follow.label}/{follow.slot.candidate.model.model}:continues")
        return follow

    def _continue_candidates(self, targets: list[str], failed: ModelRef) -> list[Candidate]:
        kept: list[Candidate] = []
        for text in targets:
            ref = ModelRef.parse(text)
            if ref == failed or ref.provider not in self.core.adapters:
                continue
            if self.core.credential_problem(ref.provider) is not None:
                self.skip(ref, "not_configured")
                continue
            info = self.core.model_info(ref)
            if Capability.PREFILL not in info.capabilities:
                self.skip(ref, "no_prefill")
                continue
            kept.append(Candidate(ref, info))
        return kept


async def _keep(slot: Slot, step: Call, opened: _Opened, elapsed_ms: float) -> _Opened:
    return opened


def _pii_failure(model: ModelRef) -> ProviderError:
    return ProviderError(
        "the stream's output failed the PII scan; the rest of it was withheld",
        provider=model.provider,
        model=model.model,
        code=ErrorCode.PII_LEAK,
    )


async def _close(iterator: AsyncIterator[list[Delta]]) -> None:
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
    iterator: AsyncIterator[list[Delta]]
    pending: list[list[Delta]]  # read already, not yet handed on
    started: float
    number: int  # the attempt's number, for its record
    due: float  # the loop time by which each read must end (the lane's deadline)

    @property
    def label(self) -> str:
        credential = self.slot.credential
        return credential.label if credential is not None else self.slot.candidate.model.provider


@dataclass(slots=True)
class _Read:
    """What the screening passes leave for the finishing step, across a continuation."""

    guard: StreamPiiGuard
    collector: _Collector = field(default_factory=lambda: _Collector())
    failure: ProviderError | None = None
    #: whitespace cut from a prefill's end, dropped once from the continuation's start
    pending_trim: str = ""
    #: the failed stream was settled (breaker, budget, record) before a continuation
    #: that then did not open
    settled: bool = False

    def trim(self, text: str) -> str:
        trim = self.pending_trim
        if not trim:
            return text
        self.pending_trim = ""
        stripped = text.lstrip()
        return stripped if len(text) - len(stripped) <= len(trim) else text[len(trim) :]

    def screen(self, batch: list[Delta], model: ModelRef) -> list[Delta]:
        """What of one read's deltas may go out now: each run of text joined into one delta
        and scanned once, held back until the scan has seen what follows it. A failure
        (an error delta, a leak) ends them and is left in `failure`."""
        out: list[Delta] = []
        text: str | None = None  # the run of text not yet scanned
        single: TextDelta | None = None  # the run's delta, while it is one
        for delta in batch:
            if isinstance(delta, TextDelta):
                if text is None:
                    text, single = delta.text, delta
                else:
                    text, single = text + delta.text, None
                continue
            ready = ""
            if text is not None:
                scanned = self._scan(text, model)
                if scanned is None:
                    return out
                ready, text = scanned, None
            if isinstance(delta, ErrorDelta):
                if ready:
                    out.append(TextDelta(ready))
                self.failure = delta.error
                return out
            ready += self.guard.flush()  # a tool call, usage or finish follows all the text
            if ready:
                out.append(TextDelta(ready))
            self.collector.add(delta)
            out.append(delta)
        if text is not None and (last := self._scan(text, model)):
            out.append(single if single is not None and last is single.text else TextDelta(last))
        return out

    def _scan(self, text: str, model: ModelRef) -> str | None:
        """Of one run of text, what may go out now; None after a leak (in `failure`)."""
        if self.pending_trim:
            text = self.trim(text)
        self.collector.text.append(text)
        guard = self.guard
        if not guard.active:
            return text
        ready = guard.feed(text)
        if ready is None:
            self.failure = _pii_failure(model)
        return ready

    def held_after_failure(self) -> str:
        """Held text, all scanned clean, may go out when the stream ends on a non-PII fault."""
        failure = self.failure
        if failure is None or failure.code is ErrorCode.PII_LEAK:
            return ""
        return self.guard.flush()


_NO_USAGE = Usage()  # immutable: one for every stream that reports none
_STOP = FinishReason.STOP


class _Collector:
    """Builds the final Completion from a stream's deltas.

    Text goes straight into `text` (the stream loop appends it: the hot path);
    every other delta through `add`.
    """

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, list[str]] = {}
        self.call_meta: dict[int, tuple[str, str]] = {}
        self.usage = _NO_USAGE
        self.finish = _STOP

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
