"""The `fake` kind: a scripted provider for tests and demos.

Script answers with `enqueue(...)`: text, tool calls, a `ProviderError` with
any code, a delay (on the injected clock, so a `FakeClock` makes it instant),
a stream cut after some chunks. Each call takes the next answer queued for
its model, else the next one queued for any model; with nothing queued it
echoes the last user message (or fails, when `strict`). Every call is kept in
`calls` so a test can assert exactly what was sent. No magic model names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from laneway.config.credentials import Credential
from laneway.config.schema import FakeProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._adapter_base import AdapterBase
from laneway.providers._wire import RETRYABLE_CODES, with_cost
from laneway.providers.base import AdapterDeps
from laneway.providers.local import last_user_text, split_words
from laneway.types import (
    Answer,
    CompletionRequest,
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageDelta,
)


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    """One queued outcome: an error when `error_code` is set, else an answer."""

    text: str | None = None
    error_code: ErrorCode | None = None
    status: int | None = None
    retry_after_s: float | None = None
    delay_s: float = 0.0
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    stream_chunks: tuple[str, ...] | None = None
    cut_after: int | None = None
    finish_reason: FinishReason | None = None


class FakeAdapter(AdapterBase[FakeProvider]):
    """Scripted answers per model; see the module docstring."""

    def __init__(
        self, provider_id: str, spec: FakeProvider, deps: AdapterDeps, *, strict: bool = False
    ) -> None:
        super().__init__(provider_id, spec, deps)
        self.strict = strict
        self.calls: list[tuple[str, CompletionRequest]] = []
        self._queues: dict[str | None, deque[ScriptedAnswer]] = {}

    def enqueue(
        self,
        model: str | None = None,
        *,
        text: str | None = None,
        error_code: ErrorCode | str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
        delay_s: float = 0.0,
        tool_calls: Sequence[ToolCall] = (),
        usage: Usage | None = None,
        stream_chunks: Sequence[str] | None = None,
        cut_after: int | None = None,
        finish_reason: FinishReason | None = None,
    ) -> None:
        """Queue one outcome for `model` (or for any model when `model` is None)."""
        answer = ScriptedAnswer(
            text=text,
            error_code=ErrorCode(error_code) if error_code is not None else None,
            status=status,
            retry_after_s=retry_after_s,
            delay_s=delay_s,
            tool_calls=tuple(tool_calls),
            usage=usage,
            stream_chunks=tuple(stream_chunks) if stream_chunks is not None else None,
            cut_after=cut_after,
            finish_reason=finish_reason,
        )
        self._queues.setdefault(model, deque()).append(answer)

    def pending(self, model: str | None = None) -> int:
        """How many answers are still queued for `model` (None: the any-model queue)."""
        return len(self._queues.get(model, ()))

    # -- Adapter protocol ------------------------------------------------------

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Answer:
        answer = await self._next(request, model, timeout_s, credential)
        text = self._text(answer, request)
        return Answer(
            content=text,
            finish_reason=_finish(answer),
            tool_calls=answer.tool_calls,
            usage=self._usage(answer, request, text, model),
        )

    async def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        answer = await self._next(request, model, timeout_s, credential)
        text = self._text(answer, request)
        chunks = answer.stream_chunks if answer.stream_chunks is not None else split_words(text)
        for sent, chunk in enumerate(chunks):
            if answer.cut_after is not None and sent >= answer.cut_after:
                yield ErrorDelta(self._cut(model))
                return
            yield TextDelta(chunk)
        if answer.cut_after is not None and answer.cut_after >= len(chunks):
            yield ErrorDelta(self._cut(model))
            return
        for index, call in enumerate(answer.tool_calls):
            yield ToolCallDelta(index, call.id, call.name, call.arguments)
        yield UsageDelta(self._usage(answer, request, "".join(chunks), model))
        yield FinishDelta(_finish(answer))

    # -- scripting -------------------------------------------------------------

    async def _next(
        self,
        request: CompletionRequest,
        model: str,
        timeout_s: float,
        credential: Credential | None,
    ) -> ScriptedAnswer:
        """Record the call, take its answer, wait its delay, raise its error."""
        self.calls.append((model, request))
        answer = self._pop(model)
        if answer.delay_s >= timeout_s:
            await self._deps.clock.sleep(timeout_s)
            raise ProviderError(
                f"scripted delay of {answer.delay_s:g} s passed the {timeout_s:g} s timeout",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.TIMEOUT,
                retryable=True,
            )
        if answer.delay_s > 0:
            await self._deps.clock.sleep(answer.delay_s)
        if answer.error_code is not None:
            raise ProviderError(
                f"scripted {answer.error_code.value}",
                provider=self.provider_id,
                model=model,
                code=answer.error_code,
                retryable=answer.error_code in RETRYABLE_CODES,
                status=answer.status,
                retry_after_s=answer.retry_after_s,
                credential=credential.label if credential else None,
            )
        return answer

    def _pop(self, model: str) -> ScriptedAnswer:
        for key in (model, None):
            queue = self._queues.get(key)
            if queue:
                return queue.popleft()
        if self.strict:
            raise ProviderError(
                f"no scripted answer left for {model!r}; enqueue one before calling",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.NOT_CONFIGURED,
            )
        return ScriptedAnswer()

    def _text(self, answer: ScriptedAnswer, request: CompletionRequest) -> str:
        if answer.text is not None:
            return answer.text
        if answer.stream_chunks is not None:
            return "".join(answer.stream_chunks)
        return "" if answer.tool_calls else last_user_text(request)

    def _usage(
        self, answer: ScriptedAnswer, request: CompletionRequest, text: str, model: str
    ) -> Usage:
        usage = answer.usage or Usage(request.estimated_input_tokens(), len(split_words(text)))
        return with_cost(usage, self.capabilities(model))

    def _cut(self, model: str) -> ProviderError:
        return ProviderError(
            "scripted stream cut: the connection dropped mid-stream",
            provider=self.provider_id,
            model=model,
            code=ErrorCode.NETWORK,
        )


def _finish(answer: ScriptedAnswer) -> FinishReason:
    if answer.finish_reason is not None:
        return answer.finish_reason
    return FinishReason.TOOL_CALLS if answer.tool_calls else FinishReason.STOP
