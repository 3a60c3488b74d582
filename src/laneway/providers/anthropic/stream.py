"""Anthropic Messages streams: SSE events to normalized deltas, pure.

Order per NOTES (`tests/specs/anthropic-wire-format.md`, "Streaming"):
`message_start`, then per content block `content_block_start`,
`content_block_delta`…, `content_block_stop`, then `message_delta` (stop reason
and running usage totals) and `message_stop`. `ping` and unknown event types
are ignored; `error` raises `StreamFailure`. There is no `[DONE]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from laneway.errors import ErrorCode
from laneway.http.sse import SseEvent
from laneway.providers._wire import StreamFailure, WireError, decode_event
from laneway.providers.anthropic.wire import (
    ERROR_TYPES,
    JsonObject,
    error_type_of,
    finish_reason,
    parse_usage,
    str_or_empty,
)
from laneway.types import Delta, FinishDelta, TextDelta, ToolCallDelta, UsageDelta


@dataclass(slots=True)
class StreamState:
    """What one Messages stream has said so far (NOTES "Streaming")."""

    output_tool: str | None = None
    #: content block index -> tool call ordinal; -1 for the output tool; absent for others
    tool_blocks: dict[int, int] = field(default_factory=dict)
    text_blocks: set[int] = field(default_factory=set)
    tools_seen: int = 0
    usage_raw: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    finished: bool = False


def parse_stream_event(event: SseEvent, state: StreamState) -> list[Delta]:
    """Deltas for one SSE event. Raises `WireError` on bad JSON, `StreamFailure` on `error`."""
    data = decode_event(event.data, what="stream event")
    kind = data.get("type") or event.event  # the SDK fills `type` from the event name too
    if kind == "error":
        status = ERROR_TYPES.get(error_type_of(data) or "", (500, ErrorCode.UNAVAILABLE))[0]
        raise StreamFailure(status, event.data.encode())
    handler = _HANDLERS.get(kind)
    return handler(data, state) if handler else []  # ping and future types are ignored


def _on_message_start(data: JsonObject, state: StreamState) -> list[Delta]:
    message = data.get("message")
    if not isinstance(message, dict):
        raise WireError("message_start without a message")
    if isinstance(usage := message.get("usage"), dict):
        state.usage_raw.update(usage)
    return []


def _on_block_start(data: JsonObject, state: StreamState) -> list[Delta]:
    index, block = data.get("index"), data.get("content_block")
    if not isinstance(index, int) or not isinstance(block, dict):
        raise WireError("content_block_start without index or content_block")
    if block.get("type") == "text":
        state.text_blocks.add(index)
        text = str_or_empty(block.get("text"))
        return [TextDelta(text)] if text else []
    if block.get("type") != "tool_use":
        return []  # thinking and server-tool blocks are not part of the answer
    name = block.get("name")
    if state.output_tool is not None and name == state.output_tool:
        state.tool_blocks[index] = -1
        return []
    call_id = block.get("id")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise WireError("a tool_use block start lacks its id or name")
    ordinal = state.tools_seen
    state.tools_seen += 1
    state.tool_blocks[index] = ordinal
    return [ToolCallDelta(ordinal, id=call_id, name=name)]


def _on_block_delta(data: JsonObject, state: StreamState) -> list[Delta]:
    index, delta = data.get("index"), data.get("delta")
    if not isinstance(index, int) or not isinstance(delta, dict):
        raise WireError("content_block_delta without index or delta")
    if delta.get("type") == "text_delta" and index in state.text_blocks:
        return [TextDelta(str_or_empty(delta.get("text")))]
    if delta.get("type") == "input_json_delta" and index in state.tool_blocks:
        fragment = str_or_empty(delta.get("partial_json"))
        ordinal = state.tool_blocks[index]
        if not fragment:
            return []
        return [TextDelta(fragment) if ordinal < 0 else ToolCallDelta(ordinal, arguments=fragment)]
    return []


def _on_message_delta(data: JsonObject, state: StreamState) -> list[Delta]:
    delta = data.get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
        state.stop_reason = delta["stop_reason"]
    if isinstance(usage := data.get("usage"), dict):
        # Running totals that replace earlier values (NOTES, SDK-accumulate).
        state.usage_raw.update({k: v for k, v in usage.items() if v is not None})
    return []


def _on_message_stop(data: JsonObject, state: StreamState) -> list[Delta]:
    state.finished = True
    only_output = state.output_tool is not None and -1 in state.tool_blocks.values()
    reason = finish_reason(state.stop_reason or "end_turn", only_output_tool=only_output)
    return [UsageDelta(parse_usage(state.usage_raw)), FinishDelta(reason)]


def _ignore(data: JsonObject, state: StreamState) -> list[Delta]:
    return []


_HANDLERS = {
    "message_start": _on_message_start,
    "content_block_start": _on_block_start,
    "content_block_delta": _on_block_delta,
    "content_block_stop": _ignore,
    "message_delta": _on_message_delta,
    "message_stop": _on_message_stop,
}
