"""Streams keep the PII promise: tainted text is withheld, even when split across deltas."""

from __future__ import annotations

from typing import Any

import pytest

from laneway import CompletionRequest, Gateway, TaskContext
from laneway.clock import FakeClock
from laneway.engine.validation import OutputPolicy, validate_output
from laneway.errors import OutputRejectedError
from laneway.types import Completion, ErrorDelta, StreamDone, TextDelta, ToolCall

CONFIG: dict[str, Any] = {
    "providers": {"p": {"kind": "fake"}},
    "lanes": {"chat": {"primary": "p/m"}},
    "audit": {"enabled": False},
}


async def _events(
    chunks: list[str], ctx: TaskContext, tool_calls: tuple[ToolCall, ...] = ()
) -> list[Any]:
    async with Gateway.from_config(CONFIG, env={}, clock=FakeClock()) as gw:
        gw.adapter("p").enqueue(  # type: ignore[attr-defined]
            "m", stream_chunks=chunks, tool_calls=tool_calls
        )
        request = CompletionRequest.from_prompt("hi")
        return [event async for event in gw.stream(request, ctx)]


async def test_an_email_split_across_deltas_is_never_sent() -> None:
    chunks = ["Sure, write to ", "jo", "hn.smith@exam", "ple.com and he ", "will answer."]
    events = await _events(chunks, TaskContext(lane="chat"))
    sent = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "@" not in sent
    assert "exam" not in sent
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code.value == "pii_leak"
    assert "john" not in str(error.error).lower()


async def test_a_redacted_name_is_withheld_from_a_stream() -> None:
    chunks = ["The owner is Ada ", "Lovelace, ", "ask her."]
    events = await _events(chunks, TaskContext(lane="chat", redact=("Ada Lovelace",)))
    sent = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "Lovelace" not in sent
    assert isinstance(events[-1], ErrorDelta)


async def test_clean_text_arrives_whole_and_in_order() -> None:
    chunks = [f"word{i} " for i in range(60)]
    events = await _events(chunks, TaskContext(lane="chat"))
    sent = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert sent == "".join(chunks)
    assert isinstance(events[-1], StreamDone)
    assert events[-1].completion.content == sent


async def test_an_email_in_a_streamed_tool_call_is_still_caught_at_the_end() -> None:
    """The guard screens text as it streams; the end of the stream scans the tool calls."""
    call = ToolCall("call_1", "send_mail", '{"to": "john.smith@example.com"}')
    events = await _events(["Sending it now."], TaskContext(lane="chat"), (call,))
    error = events[-1]
    assert isinstance(error, ErrorDelta)
    assert error.error.code.value == "pii_leak"


def test_text_the_guard_scanned_is_not_scanned_again() -> None:
    """`text_scanned=True` (a stream's end) scans the tool calls' arguments only."""
    policy = OutputPolicy(pii_emails=True, pii_phones=True)
    tainted = Completion(content="mail john.smith@example.com", provider="p", model="m")
    validate_output(tainted, policy, text_scanned=True)  # the guard's job, done already
    with pytest.raises(OutputRejectedError):
        validate_output(tainted, policy)
    call = ToolCall("c", "f", '{"phone": "+1 415 555 0100"}')
    with_call = Completion(content="ok", provider="p", model="m", tool_calls=(call,))
    with pytest.raises(OutputRejectedError):
        validate_output(with_call, policy, text_scanned=True)
