"""Anthropic Messages API on the wire: pure translation, no I/O.

`build_request` turns the canonical request into a `POST /v1/messages` body,
`parse_response` turns an answer into an `Answer`, and `classify_error`
maps an error status + body to a `ProviderError` (streams: `stream.py`).
Sources: `tests/specs/anthropic-messages.prism.json` (SPEC) and
`tests/specs/anthropic-wire-format.md` (NOTES).

Structured output (`json_schema`) is sent as one forced tool whose
`input_schema` is the schema, and the tool's input is mapped back to
`content`. Anthropic's native `output_format` exists only behind a beta header
in SPEC (`BetaCreateMessageParams`) and only for some models; a forced tool
works on every tool-capable Claude model and validates against the GA schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from laneway.config.schema import AuthHeader
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._wire import (
    WireError,
    WireRequestError,
    as_int,
    auth_headers,
    decode_json,
    error_from_status,
)
from laneway.providers.ratelimit import retry_after_s
from laneway.types import (
    Answer,
    CompletionRequest,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ToolCall,
    Usage,
)

JsonObject = dict[str, Any]

#: Name of the forced tool that carries structured output (SPEC `Tool.name` pattern).
OUTPUT_TOOL = "json_response"
_OUTPUT_TOOL_DESCRIPTION = "Give the final answer as this tool's input, matching its schema."
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")  # SPEC `RequestToolUseBlock.id` pattern

_STOP_REASONS: Mapping[str, FinishReason] = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    # The answer was cut by the window, not refused: a partial answer, like max_tokens.
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}

#: `error.type` -> (the HTTP status it comes with, our code). NOTES "Errors" table.
ERROR_TYPES: Mapping[str, tuple[int, ErrorCode]] = {
    "invalid_request_error": (400, ErrorCode.BAD_REQUEST),
    "authentication_error": (401, ErrorCode.AUTH),
    "billing_error": (402, ErrorCode.AUTH),
    "permission_error": (403, ErrorCode.AUTH),
    "not_found_error": (404, ErrorCode.BAD_REQUEST),
    "request_too_large": (413, ErrorCode.CONTEXT_LENGTH),
    "rate_limit_error": (429, ErrorCode.RATE_LIMIT),
    "api_error": (500, ErrorCode.UNAVAILABLE),
    "timeout_error": (504, ErrorCode.TIMEOUT),
    "overloaded_error": (529, ErrorCode.UNAVAILABLE),
}

_RATE_LIMIT_FAMILIES = ("requests", "tokens", "input-tokens", "output-tokens")


# -- request -------------------------------------------------------------------


def build_headers(
    api_key: str | None,
    *,
    version: str,
    extra: Mapping[str, str] = {},
    auth: AuthHeader = "default",
) -> dict[str, str]:
    """`x-api-key` and `anthropic-version` on every call (NOTES "request headers").

    `auth="bearer"` sends the secret as `authorization: Bearer` instead, as
    Anthropic's OAuth access tokens are sent.
    """
    headers = {"content-type": "application/json", "anthropic-version": version, **extra}
    return headers | auth_headers(api_key, header="x-api-key", style=auth)


def build_request(
    request: CompletionRequest, model: str, *, default_max_tokens: int, stream: bool = False
) -> JsonObject:
    """The `CreateMessageParams` body. `seed` has no Anthropic equivalent and is dropped."""
    system = [m.text for m in request.messages if m.role == "system" and m.text]
    body: JsonObject = {
        "model": model,
        "max_tokens": request.max_tokens or default_max_tokens,
        "messages": _messages(request.messages),
    }
    if system:
        body["system"] = system[0] if len(system) == 1 else [_text(s) for s in system]
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    _add_tools(body, request)
    if stream:
        body["stream"] = True
    return body


def output_tool_name(request: CompletionRequest) -> str | None:
    """The forced output tool's name when the request asks for JSON, else None."""
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    return OUTPUT_TOOL


def _add_tools(body: JsonObject, request: CompletionRequest) -> None:
    tools = [_tool(t.name, t.description, t.parameters) for t in request.tools]
    choice = _tool_choice(request.tool_choice) if tools else None
    fmt = request.response_format
    if fmt is not None and output_tool_name(request) is not None:
        tools.append(_tool(OUTPUT_TOOL, _OUTPUT_TOOL_DESCRIPTION, fmt.schema or {"type": "object"}))
        choice = _structured_choice(request, choice)
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice


def _tool(name: str, description: str | None, parameters: Mapping[str, Any]) -> JsonObject:
    tool: JsonObject = {"name": name, "input_schema": _schema(parameters)}
    if description:
        tool["description"] = description
    return tool


def _structured_choice(request: CompletionRequest, choice: JsonObject | None) -> JsonObject:
    """Force the output tool, unless the caller's own tools must stay callable.

    Then `any` makes the model either call one of them or answer through the
    output tool; a caller forcing a tool keeps that choice.
    """
    if choice is not None and choice["type"] in ("any", "tool"):
        return choice
    if request.tools and request.tool_choice != "none":
        return {"type": "any"}
    return _forced(OUTPUT_TOOL)


def _tool_choice(choice: str | None) -> JsonObject | None:
    """OpenAI-style choice -> SPEC `ToolChoice` (auto / any / tool / none)."""
    if choice is None:
        return None
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    return _forced(choice)


def _forced(name: str) -> JsonObject:
    return {"type": "tool", "name": name}


def _schema(parameters: Mapping[str, Any]) -> JsonObject:
    """SPEC `InputSchema` requires `type: object`; an empty schema means no arguments."""
    schema = dict(parameters)
    if not schema:
        return {"type": "object", "properties": {}}
    schema.setdefault("type", "object")
    return schema


def _messages(messages: tuple[Message, ...]) -> list[JsonObject]:
    """User/assistant turns; tool results become user turns; same-role turns are merged.

    SPEC (`CreateMessageParams.messages`) says consecutive same-role turns are
    combined anyway; merging here keeps tool_result blocks first in their turn.
    """
    out: list[JsonObject] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _as_blocks(out[-1]["content"]) + _as_blocks(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def _blocks(message: Message) -> str | list[JsonObject]:
    if message.role == "tool":
        if message.tool_call_id is None:
            raise WireRequestError("a tool message needs the tool_call_id it answers")
        return [
            {
                "type": "tool_result",
                "tool_use_id": _safe_id(message.tool_call_id),
                "content": _content(message.content),
            }
        ]
    content = _content(message.content)
    if not message.tool_calls:
        return content
    blocks = [b for b in _as_blocks(content) if b.get("text", True)]
    return blocks + [_tool_use(call) for call in message.tool_calls]


def _tool_use(call: ToolCall) -> JsonObject:
    try:
        arguments = decode_json(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        raise WireRequestError(f"tool call {call.name!r} has arguments that are not JSON") from exc
    if not isinstance(arguments, dict):
        raise WireRequestError(f"tool call {call.name!r} has arguments that are not a JSON object")
    return {"type": "tool_use", "id": _safe_id(call.id), "name": call.name, "input": arguments}


def _safe_id(call_id: str) -> str:
    """Ids from other providers may hold characters SPEC's id pattern refuses."""
    return _ID_UNSAFE.sub("_", call_id) or "call"


def _content(content: str | tuple[Part, ...]) -> str | list[JsonObject]:
    if isinstance(content, str):
        return content
    return [_image(p) if isinstance(p, ImagePart) else _text(p.text) for p in content]


def _as_blocks(content: str | list[JsonObject]) -> list[JsonObject]:
    return [_text(content)] if isinstance(content, str) else list(content)


def _text(text: str) -> JsonObject:
    return {"type": "text", "text": text}


def _image(part: ImagePart) -> JsonObject:
    """SPEC `RequestImageBlock`: base64 source for `data:` URLs, url source otherwise."""
    if not part.url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    header, sep, data = part.url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise WireRequestError("an image data: URL must be data:<media type>;base64,<data>")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


# -- response ------------------------------------------------------------------


def parse_response(
    body: object, *, output_tool: str | None = None, keep_body: bool = False
) -> Answer:
    """A SPEC `Message` (required: content, stop_reason, usage) into our terms; with
    `keep_body`, the body itself too (`Answer.wire`, for a pass-through client)."""
    if not isinstance(body, dict):
        raise WireError("the body is not a JSON object")
    content = body.get("content")
    if not isinstance(content, list):
        raise WireError("the message has no content list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    structured: str | None = None
    for block in content:
        if not isinstance(block, dict):
            raise WireError("a content block is not an object")
        if block.get("type") == "text":
            texts.append(str_or_empty(block.get("text")))
        elif block.get("type") == "tool_use":
            call = _parse_tool_use(block)
            if output_tool is not None and call.name == output_tool:
                structured = call.arguments
            else:
                calls.append(call)
    stop_reason = body.get("stop_reason")
    if not isinstance(stop_reason, str):
        raise WireError("the message has no stop_reason")
    return Answer(
        content=structured if structured is not None else "".join(texts),
        tool_calls=tuple(calls),
        finish_reason=finish_reason(stop_reason, only_output_tool=structured is not None),
        usage=parse_usage(body.get("usage"), required=True),
        wire=body if keep_body else None,
    )


def _parse_tool_use(block: Mapping[str, Any]) -> ToolCall:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, dict):
        raise WireError("a tool_use block lacks its id, name or input object")
    return ToolCall(call_id, name, json.dumps(arguments, separators=(",", ":"), ensure_ascii=False))


def finish_reason(stop_reason: str, *, only_output_tool: bool = False) -> FinishReason:
    """NOTES "Suggested mapping"; a tool_use stop that only carried structured output is stop."""
    reason = _STOP_REASONS.get(stop_reason, FinishReason.STOP)
    if reason is FinishReason.TOOL_CALLS and only_output_tool:
        return FinishReason.STOP
    return reason


def parse_usage(usage: object, *, required: bool = False) -> Usage:
    """Input counts cache reads and writes too: they are prompt tokens the caller sent."""
    if not isinstance(usage, dict):
        if required:
            raise WireError("the message has no usage")
        return Usage()
    if required and not isinstance(usage.get("input_tokens"), int):
        raise WireError("usage.input_tokens is missing")
    written = as_int(usage.get("cache_creation_input_tokens"))
    read = as_int(usage.get("cache_read_input_tokens"))
    tokens_in = as_int(usage.get("input_tokens")) + written + read
    return Usage(tokens_in, as_int(usage.get("output_tokens")), None, read, written)


def str_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""


# -- errors --------------------------------------------------------------------


def classify_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: str,
    model: str | None,
    now_wall: float,
    credential: str | None = None,
) -> ProviderError:
    """Status + `error.type` (+ rate-limit headers) -> `ProviderError` (NOTES "Errors")."""
    data = _json_or_none(body)
    error_type = error_type_of(data)
    message = _error_message(data)
    known = ERROR_TYPES.get(error_type or "")
    code = known[1] if known else None
    if error_type == "invalid_request_error" and is_prompt_too_long(message):
        code = ErrorCode.CONTEXT_LENGTH
    wait_s = retry_after_s(headers, now_wall=now_wall)
    if wait_s is None and (reset_s := ratelimit_reset_s(headers, now_wall=now_wall)) is not None:
        headers = {**headers, "retry-after": f"{reset_s:.3f}"}
    return error_from_status(
        provider,
        model,
        status,
        headers,
        now_wall=now_wall,
        error_type=error_type,
        message=message,
        code=code,
        credential=credential,
    )


def is_prompt_too_long(message: str | None) -> bool:
    """Anthropic gives no structured field for an over-long prompt, only this message.

    Recorded bodies: 400 `invalid_request_error` "prompt is too long: 200251 tokens
    > 200000 maximum" (github.com/boldsoftware/exe.dev/issues/62) and "input length
    and `max_tokens` exceed context limit: …" (github.com/stackblitz/bolt.new/issues/7422).
    """
    text = (message or "").lower()
    return text.startswith("prompt is too long") or "exceed context limit" in text


def ratelimit_reset_s(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """Seconds until the exhausted `anthropic-ratelimit-*` limits reset (RFC 3339 values)."""
    waits: list[float] = []
    for family in _RATE_LIMIT_FAMILIES:
        prefix = f"anthropic-ratelimit-{family}"
        if headers.get(f"{prefix}-remaining", "").strip() != "0":
            continue
        reset = headers.get(f"{prefix}-reset")
        if reset is None:
            continue
        try:
            moment = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is not None:
            waits.append(max(0.0, moment.timestamp() - now_wall))
    return max(waits) if waits else None


def _json_or_none(body: bytes) -> object:
    try:
        return decode_json(body)
    except ValueError:
        return None  # e.g. an HTML page from a proxy: classify by status alone


def error_type_of(data: object) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _error_message(data: object) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else None
