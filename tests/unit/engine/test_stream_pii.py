"""Streams keep the PII promise: tainted text is withheld, even when split across deltas."""

from __future__ import annotations

from typing import Any

from laneway import CompletionRequest, Gateway, TaskContext
from laneway.clock import FakeClock
from laneway.types import ErrorDelta, StreamDone, TextDelta

CONFIG: dict[str, Any] = {
    "providers": {"p": {"kind": "fake"}},
    "lanes": {"chat": {"primary": "p/m"}},
    "audit": {"enabled": False},
}


async def _events(chunks: list[str], ctx: TaskContext) -> list[Any]:
    async with Gateway.from_config(CONFIG, env={}, clock=FakeClock()) as gw:
        gw.adapter("p").enqueue("m", stream_chunks=chunks)  # type: ignore[attr-defined]
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
