"""The Anthropic Messages API on the wire: parse a `/v1/messages` body, render an answer.

Pure functions, no I/O. A body is parsed twice over, in one pass:

- kept whole as a `WirePayload`: an Anthropic-format model gets it unchanged
  (thinking signatures, `cache_control`, documents, server tools, new fields),
  only `metadata.user_id` removed unless `server.forward_user_id` is on;
- translated into a `CompletionRequest`, for every other model and for what
  the engine itself reads (token estimates, the guard lane, PII checks).

What a translation cannot carry is recorded, never lost silently: features
only Anthropic's wire can say (`untranslatable`: documents, server tools,
`top_k`, unknown fields, ...) make another wire's adapter answer a 400 naming
them; hints a translation leaves out on purpose (`dropped`: thinking blocks
and settings, `cache_control`) are named in the answer's trace.

Sources: `tests/specs/anthropic-messages.prism.json` (`CreateMessageParams`,
`Message`) and `tests/specs/anthropic-wire-format.md`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laneway.server.errors import ApiError, bad_request
from laneway.server.openai_wire import load_json_body, message_list, render_json
from laneway.types import (
    Completion,
    CompletionRequest,
    FinishReason,
    ImagePart,
    Message,
    Part,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    WirePayload,
)

FORMAT = "anthropic"
#: fields of `CreateMessageParams` the translation reads
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
    }
)
#: fields a translation leaves out on purpose: hints, not content
_DROPPED_FIELDS = frozenset({"thinking", "service_tier", "context_management"})
_STOP_REASONS: Mapping[FinishReason, str] = {
    FinishReason.STOP: "end_turn",
    FinishReason.LENGTH: "max_tokens",
    FinishReason.TOOL_CALLS: "tool_use",
    FinishReason.CONTENT_FILTER: "refusal",
}


@dataclass(slots=True)
class MessagesRequest:
    """A parsed `/v1/messages` body: the request for the engine and the caller fields."""

    model: str
    request: CompletionRequest
    stream: bool
    user: str | None


@dataclass(slots=True)
class _Notes:
    """What the translation could not carry (for the 400) or left out (for the trace)."""

    untranslatable: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def refuse(self, feature: str) -> None:
        if feature not in self.untranslatable:
            self.untranslatable.append(feature)

    def drop(self, feature: str) -> None:
        if feature not in self.dropped:
            self.dropped.append(feature)


def parse_messages_request(
    raw: bytes,
    *,
    max_messages: int,
    headers: Mapping[str, str],
    forward_user_id: bool,
    count_only: bool = False,
) -> MessagesRequest:
    """Parse and validate a body; raise `ApiError` (400) naming the bad field.

    `count_only`: a `count_tokens` body, which has no `max_tokens`.
    """
    body = load_json_body(raw)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _field("model", "is required: a lane, an alias or 'provider/model'")
    max_tokens = body.get("max_tokens")
    if count_only and max_tokens is None:
        pass
    elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _field("max_tokens", "is required: an integer of at least 1")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _field("stream", "must be true or false")
    notes = _Notes()
    for name in body:
        if name in _DROPPED_FIELDS:
            notes.drop(name)
        elif name not in _TRANSLATED:
            notes.refuse(name)
    messages = _messages(body.get("messages"), max_messages, notes)
    system = _system(body.get("system"), notes)
    user = _user_id(body.get("metadata"))
    request = CompletionRequest(
        messages=(*system, *messages),
        tools=_tools(body.get("tools"), notes),
        tool_choice=_tool_choice(body.get("tool_choice"), notes),
        temperature=_number(body, "temperature", 1.0),
        top_p=_number(body, "top_p", 1.0),
        max_tokens=max_tokens,
        stop=_stop(body.get("stop_sequences")),
        stream=stream,
        wire=WirePayload(
            FORMAT,
            body if forward_user_id or user is None else _without_user_id(body),
            dict(headers),
            tuple(notes.untranslatable),
            tuple(notes.dropped),
        ),
    )
    return MessagesRequest(model.strip(), request, stream, user)


# -- fields --------------------------------------------------------------------


def _field(param: str, problem: str) -> ApiError:
    return bad_request(f"`{param}` {problem}", param=param, code="invalid_field")


def _number(body: Mapping[str, Any], name: str, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise _field(name, f"must be a number from 0 to {high:g}")
    return float(value)


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _field("stop_sequences", "must be a list of strings")


def _user_id(metadata: object) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _field("metadata", "must be an object")
    user = metadata.get("user_id")
    if user is not None and not isinstance(user, str):
        raise _field("metadata.user_id", "must be a string")
    return user


def _without_user_id(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body without `metadata.user_id`: the caller's identity stays with laneway."""
    metadata = {k: v for k, v in body["metadata"].items() if k != "user_id"}
    copy = dict(body)
    if metadata:
        copy["metadata"] = metadata
    else:
        del copy["metadata"]
    return copy


def _system(value: object, notes: _Notes) -> tuple[Message, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (Message("system", value),)
    if not isinstance(value, list):
        raise _field("system", "must be a string or a list of text blocks")
    texts = []
    for i, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _field(f"system[{i}]", "must be a text block")
        text = block.get("text")
        if not isinstance(text, str):
            raise _field(f"system[{i}].text", "must be a string")
        _note_block_extras(block, notes)
        texts.append(text)
    return (Message("system", "\n\n".join(texts)),) if texts else ()


def _note_block_extras(block: Mapping[str, Any], notes: _Notes) -> None:
    if "cache_control" in block:
        notes.drop("cache_control")
    if block.get("citations"):
        notes.drop("citations")


# -- messages ------------------------------------------------------------------


def _messages(value: object, max_messages: int, notes: _Notes) -> list[Message]:
    out: list[Message] = []
    for i, item in enumerate(message_list(value, max_messages)):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise _field(where, "must be an object with `role` and `content`")
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant"):
            raise _field(f"{where}.role", "must be 'user' or 'assistant'")
        if isinstance(content, str):
            out.append(Message(role, content))
            continue
        if not isinstance(content, list):
            raise _field(f"{where}.content", "must be a string or a list of content blocks")
        if role == "user":
            out.extend(_user_turn(content, f"{where}.content", notes))
        else:
            out.append(_assistant_turn(content, f"{where}.content", notes))
    return out


def _blocks(content: list[Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    blocks = []
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _field(f"{where}[{j}]", "must be an object with a `type`")
        blocks.append((f"{where}[{j}]", block))
    return blocks


def _user_turn(content: list[Any], where: str, notes: _Notes) -> list[Message]:
    """Tool results become tool messages (first, as they answer the turn before); the rest
    one user message."""
    results: list[Message] = []
    parts: list[Part] = []
    for at, block in _blocks(content, where):
        kind = block["type"]
        _note_block_extras(block, notes)
        if kind == "text":
            parts.append(TextPart(_text(block, at)))
        elif kind == "image":
            image = _image(block, at, notes)
            if image is not None:
                parts.append(image)
        elif kind == "tool_result":
            results.append(_tool_result(block, at, notes))
        elif kind in ("thinking", "redacted_thinking"):
            notes.drop("thinking")
        else:
            notes.refuse(f"{kind} blocks")
    if parts:
        only_text = all(isinstance(p, TextPart) for p in parts)
        text = "".join(p.text for p in parts if isinstance(p, TextPart))
        results.append(Message("user", text if only_text and len(parts) == 1 else tuple(parts)))
    return results


def _assistant_turn(content: list[Any], where: str, notes: _Notes) -> Message:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for at, block in _blocks(content, where):
        kind = block["type"]
        _note_block_extras(block, notes)
        if kind == "text":
            texts.append(_text(block, at))
        elif kind == "tool_use":
            calls.append(_tool_use(block, at))
        elif kind in ("thinking", "redacted_thinking"):
            notes.drop("thinking")
        else:
            notes.refuse(f"{kind} blocks")
    return Message("assistant", "".join(texts), tool_calls=tuple(calls))


def _text(block: Mapping[str, Any], at: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _field(f"{at}.text", "must be a string")
    return text


def _image(block: Mapping[str, Any], at: str, notes: _Notes) -> ImagePart | None:
    """SPEC `ImageBlockParam`: base64 becomes a data: URL, a URL stays one."""
    source = block.get("source")
    if not isinstance(source, dict):
        raise _field(f"{at}.source", "must be an object")
    if source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        if not isinstance(media, str) or not isinstance(data, str):
            raise _field(f"{at}.source", "needs string `media_type` and `data`")
        return ImagePart(f"data:{media};base64,{data}")
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return ImagePart(source["url"])
    notes.refuse(f"images from a {source.get('type')} source")
    return None


def _tool_result(block: Mapping[str, Any], at: str, notes: _Notes) -> Message:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise _field(f"{at}.tool_use_id", "is required: a string")
    content = block.get("content", "")
    if block.get("is_error"):
        notes.drop("tool_result.is_error")
    if isinstance(content, str):
        return Message("tool", content, tool_call_id=call_id)
    if not isinstance(content, list):
        raise _field(f"{at}.content", "must be a string or a list of blocks")
    texts = []
    for inner_at, inner in _blocks(content, f"{at}.content"):
        if inner["type"] == "text":
            texts.append(_text(inner, inner_at))
        else:
            notes.refuse(f"{inner['type']} blocks in tool_result")
    return Message("tool", "".join(texts), tool_call_id=call_id)


def _tool_use(block: Mapping[str, Any], at: str) -> ToolCall:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise _field(at, "needs a string `id` and `name`")
    if not isinstance(arguments, dict):
        raise _field(f"{at}.input", "must be an object")
    return ToolCall(call_id, name, json.dumps(arguments, separators=(",", ":"), ensure_ascii=False))


# -- tools ---------------------------------------------------------------------


def _tools(value: object, notes: _Notes) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _field("tools", "must be a list of tools")
    tools = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _field(f"tools[{i}]", "must be an object")
        kind = item.get("type")
        if kind not in (None, "custom"):  # web_search_20250305, bash_20250124, ...
            notes.refuse(f"server tool {kind}")
            continue
        name, schema = item.get("name"), item.get("input_schema")
        if not isinstance(name, str):
            raise _field(f"tools[{i}].name", "is required: a string")
        if not isinstance(schema, dict):
            raise _field(f"tools[{i}].input_schema", "is required: a JSON Schema object")
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            raise _field(f"tools[{i}].description", "must be a string")
        _note_block_extras(item, notes)
        tools.append(Tool(name, description, schema))
    return tuple(tools)


def _tool_choice(value: object, notes: _Notes) -> str | None:
    """SPEC `ToolChoice`: auto / any / tool / none, in laneway's (OpenAI's) terms."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind not in ("auto", "any", "tool", "none"):
        raise _field("tool_choice", "must be an object of type auto, any, tool or none")
    if value.get("disable_parallel_tool_use"):
        notes.drop("disable_parallel_tool_use")
    if kind == "tool":
        name = value.get("name")
        if not isinstance(name, str):
            raise _field("tool_choice.name", "is required for type 'tool': a string")
        return name
    return {"auto": "auto", "any": "required", "none": "none"}[kind]


# -- answers -------------------------------------------------------------------


def message_id(request_id: str) -> str:
    return f"msg_{request_id}"


def stop_reason(finish: FinishReason) -> str:
    return _STOP_REASONS.get(finish, "end_turn")


def usage_json(usage: Usage) -> dict[str, int]:
    """SPEC `Usage`: `input_tokens` counts only the tokens not read from or written to cache."""
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    return {
        "input_tokens": max(0, usage.input_tokens - cached),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def tool_input(call: ToolCall) -> dict[str, Any]:
    """A tool call's arguments as the `input` object; a model's broken JSON is a 502."""
    if not call.arguments.strip():
        return {}
    try:
        value = json.loads(call.arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError(
            502,
            f"the model called tool {call.name!r} with arguments that are not a JSON object",
            type="upstream_error",
            code="invalid_tool_arguments",
        )
    return value


def render_message(completion: Completion, *, request_id: str) -> bytes:
    """A SPEC `Message`: the upstream's own when it spoke this format, else a translation."""
    if completion.wire is not None:
        return render_json(completion.wire)
    content: list[dict[str, Any]] = []
    if completion.content:
        content.append({"type": "text", "text": completion.content})
    for call in completion.tool_calls:
        content.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": tool_input(call)}
        )
    return render_json(
        {
            "id": message_id(request_id),
            "type": "message",
            "role": "assistant",
            "model": completion.provider_model or completion.model,
            "content": content,
            "stop_reason": stop_reason(completion.finish_reason),
            "stop_sequence": None,
            "usage": usage_json(completion.usage),
        }
    )


def render_text_message(text: str, *, request_id: str, model: str) -> bytes:
    """A whole answer of one text block (a lane's degraded answer)."""
    return render_json(
        {
            "id": message_id(request_id),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage_json(Usage()),
        }
    )
