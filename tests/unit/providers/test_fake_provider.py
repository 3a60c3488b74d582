"""The `fake` kind: scripted answers, errors, delays on the injected clock, stream cuts."""

from __future__ import annotations

import pytest

from laneway.clock import FakeClock
from laneway.config.schema import FakeProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import HttpxTransport
from laneway.providers.base import AdapterDeps
from laneway.providers.fake import FakeAdapter
from laneway.types import (
    CompletionRequest,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

REQUEST = CompletionRequest.from_prompt("ping")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeAdapter:
    deps = AdapterDeps(transport=HttpxTransport(), clock=clock)
    return FakeAdapter("fake", FakeProvider(kind="fake"), deps)


async def test_answers_in_order_per_model_then_any_model(fake: FakeAdapter) -> None:
    fake.enqueue("b", text="for b")
    fake.enqueue(text="for anyone")
    assert (await fake.complete(REQUEST, "a", timeout_s=5)).content == "for anyone"
    assert (await fake.complete(REQUEST, "b", timeout_s=5)).content == "for b"
    assert (await fake.complete(REQUEST, "b", timeout_s=5)).content == "ping"  # default echo
    assert [model for model, _ in fake.calls] == ["a", "b", "b"]
    assert fake.calls[0][1] is REQUEST


async def test_scripted_error(fake: FakeAdapter) -> None:
    fake.enqueue("m", error_code="rate_limit", status=429, retry_after_s=2.5)
    with pytest.raises(ProviderError) as caught:
        await fake.complete(REQUEST, "m", timeout_s=5)
    err = caught.value
    assert (err.code, err.retryable, err.status, err.retry_after_s) == (
        ErrorCode.RATE_LIMIT, True, 429, 2.5,
    )  # fmt: skip


async def test_delay_uses_the_injected_clock(fake: FakeAdapter, clock: FakeClock) -> None:
    fake.enqueue(text="slow", delay_s=3)
    answer = await fake.complete(REQUEST, "m", timeout_s=5)
    assert clock.sleeps == [3]
    assert answer.content == "slow"


async def test_delay_past_the_timeout_is_a_timeout(fake: FakeAdapter, clock: FakeClock) -> None:
    fake.enqueue(text="too slow", delay_s=30)
    with pytest.raises(ProviderError) as caught:
        await fake.complete(REQUEST, "m", timeout_s=5)
    assert caught.value.code is ErrorCode.TIMEOUT
    assert clock.sleeps == [5]


async def test_tool_calls_and_usage(fake: FakeAdapter) -> None:
    call = ToolCall("call_1", "search", '{"q": "x"}')
    fake.enqueue(tool_calls=[call], usage=Usage(10, 3))
    completion = await fake.complete(REQUEST, "m", timeout_s=5)
    assert completion.tool_calls == (call,)
    assert completion.finish_reason is FinishReason.TOOL_CALLS
    assert completion.usage == Usage(10, 3)


async def test_stream_chunks_and_cut(fake: FakeAdapter) -> None:
    fake.enqueue(stream_chunks=["a", "b", "c"], cut_after=2)
    deltas = [d async for d in fake.stream(REQUEST, "m", timeout_s=5)]
    assert deltas[:2] == [TextDelta("a"), TextDelta("b")]
    assert isinstance(deltas[2], ErrorDelta)
    assert deltas[2].error.code is ErrorCode.NETWORK
    assert len(deltas) == 3


async def test_stream_tool_calls(fake: FakeAdapter) -> None:
    fake.enqueue(tool_calls=[ToolCall("c1", "f", "{}")])
    deltas = [d async for d in fake.stream(REQUEST, "m", timeout_s=5)]
    assert ToolCallDelta(0, "c1", "f", "{}") in deltas
    assert deltas[-1] == FinishDelta(FinishReason.TOOL_CALLS)


async def test_strict_fails_when_nothing_is_queued(clock: FakeClock) -> None:
    deps = AdapterDeps(transport=HttpxTransport(), clock=clock)
    strict = FakeAdapter("fake", FakeProvider(kind="fake"), deps, strict=True)
    with pytest.raises(ProviderError, match="no scripted answer"):
        await strict.complete(REQUEST, "m", timeout_s=5)
