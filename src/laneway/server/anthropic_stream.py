"""Anthropic Messages streams for `/v1/messages`: engine events to SSE bytes, pure.

Two writers with one interface (`feed` a delta, `done` at the end, `error`
after a late failure), each returning the bytes to send now (`feed_all` feeds
the deltas of one upstream read, for one send):

- `PassthroughStream`, when the served model speaks this wire format: every
  upstream event goes out as it came (`WireEvent`), thinking and signature
  deltas, citations and server-tool blocks included. Text arrives as
  `TextDelta`s (screened by the engine) and is written as `text_delta` events
  of the block that is open. `message_stop` waits for the engine's verdict,
  so a failed output check still ends the stream with an `error` event.
- `TranslatedStream`, for any other model: the event sequence Anthropic's API
  sends (`message_start`, per block `content_block_start` / `_delta`… /
  `_stop`, `message_delta` with the stop reason and usage, `message_stop`)
  built from laneway's deltas; tool calls keep their ids.

Event order: https://docs.claude.com/en/docs/build-with-claude/streaming and
`tests/specs/anthropic-wire-format.md` ("Streaming").
"""

from __future__ import annotations

from typing import Any

import orjson

from laneway.server.anthropic_errors import error_event
from laneway.server.anthropic_wire import message_id, stop_reason, usage_json
from laneway.server.errors import ApiError
from laneway.types import (
    Completion,
    Delta,
    FinishDelta,
    FinishReason,
    TextDelta,
    ToolCallDelta,
    Usage,
    WireEvent,
)

#: `message_start`'s usage: nothing counted yet
_NO_USAGE = usage_json(Usage())


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _text_delta(index: int, text: str) -> bytes:
    return sse(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        },
    )


class PassthroughStream:
    """An Anthropic-format upstream's events, as they came."""

    __slots__ = ("_held_stop", "_index", "_request_id")

    def __init__(self, request_id: str) -> None:
        self._request_id = request_id
        self._index = 0
        self._held_stop = b""

    def feed(self, delta: Delta) -> bytes:
        if isinstance(delta, TextDelta):
            return _text_delta(self._index, delta.text) if delta.text else b""
        if not isinstance(delta, WireEvent):
            return b""  # usage, finish and tool calls travel in the upstream's own events
        raw = b"event: " + delta.event.encode() + b"\ndata: " + delta.data.encode() + b"\n\n"
        if delta.event == "content_block_start":
            index = orjson.loads(delta.data).get("index")
            self._index = index if isinstance(index, int) else self._index
        elif delta.event == "message_stop":
            self._held_stop = raw
            return b""
        return raw

    def done(self, completion: Completion) -> bytes:
        return self._held_stop

    def error(self, error: ApiError) -> bytes:
        return error_event(error, self._request_id)


class TranslatedStream:
    """Anthropic's event sequence, built from another wire format's deltas."""

    __slots__ = ("_block", "_finish", "_index", "_model", "_request_id", "_started")

    def __init__(self, request_id: str, model: str) -> None:
        self._request_id = request_id
        self._model = model
        self._started = False
        self._index = -1
        self._block: str | None = None  # "text" or "tool_use" while one is open
        self._finish = FinishReason.STOP

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(self._request_id),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _NO_USAGE,
        }
        return sse("message_start", {"type": "message_start", "message": message})

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._block = block["type"]
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + sse("content_block_start", start)

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def feed(self, delta: Delta) -> bytes:
        out = self._start()
        if isinstance(delta, TextDelta):
            if not delta.text:
                return out
            if self._block != "text":
                out += self._open({"type": "text", "text": ""})
            return out + _text_delta(self._index, delta.text)
        if isinstance(delta, ToolCallDelta):
            if delta.id is not None or self._block != "tool_use":
                block = {"type": "tool_use", "id": delta.id or "", "name": delta.name or ""}
                out += self._open({**block, "input": {}})
            if delta.arguments:
                fragment = {"type": "input_json_delta", "partial_json": delta.arguments}
                out += sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": self._index, "delta": fragment},
                )
            return out
        if isinstance(delta, FinishDelta):
            self._finish = delta.finish_reason
        return out

    def done(self, completion: Completion) -> bytes:
        closing = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(self._finish), "stop_sequence": None},
            "usage": usage_json(completion.usage),
        }
        return (
            self._start()
            + self._close()
            + sse("message_delta", closing)
            + sse("message_stop", {"type": "message_stop"})
        )

    def text_answer(self, text: str) -> bytes:
        """A whole answer of one text block (a lane's degraded answer)."""
        return self.feed(TextDelta(text)) + self.done(Completion(text, "laneway", self._model))

    def error(self, error: ApiError) -> bytes:
        return self._close() + error_event(error, self._request_id)


Writer = PassthroughStream | TranslatedStream


def feed_all(writer: Writer, deltas: list[Delta]) -> bytes:
    """The events of one upstream read's deltas, for one send."""
    if len(deltas) == 1:
        return writer.feed(deltas[0])
    return b"".join([writer.feed(delta) for delta in deltas])
