"""Chat Completions on the wire: pure translation, no I/O.

`build_request`, `parse_response`, `parse_stream_event` and `classify_error`
for the `openai` kind and every `openai_compatible` server. Wire format:
`tests/specs/openai-chat.prism.yaml` (`CreateChatCompletionRequest`,
`CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`,
`ErrorResponse`).

- `openai` sends `max_completion_tokens` (the o-series refuse `max_tokens`);
  compatible servers get `max_tokens`, which all of them read.
- Errors are classified by status and the body's `error.type`/`error.code`,
  never by message text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._wire import (
    as_int,
    decode_json,
    error_from_status,
    invalid_response,
    sanitize_message,
)
from laneway.types import (
    Answer,
    CompletionRequest,
    Delta,
    ErrorDelta,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageDelta,
)

OpenAISpec = OpenAIProvider | OpenAICompatibleProvider

_FINISH: Mapping[str, FinishReason] = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
_TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
#: Structured `error.code` values that mean the content was refused.
_CONTENT_FILTER_CODES = frozenset({"content_policy_violation", "content_filter"})
_QUOTA_CODES = frozenset({"insufficient_quota"})

# -- request -----------------------------------------------------------------


def build_request(request: CompletionRequest, model: str, spec: OpenAISpec) -> dict[str, Any]:
    """The Chat Completions body for `request`; never carries caller identity."""
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice(request.tool_choice)
    if (response_format := _response_format(request)) is not None:
        body["response_format"] = response_format
    if request.max_tokens is not None:
        field = "max_completion_tokens" if spec.kind == "openai" else "max_tokens"
        body[field] = request.max_tokens
    for name in ("temperature", "top_p", "seed"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.stop:
        body["stop"] = list(request.stop)
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [_part(part) for part in message.content]
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        if not message.content:
            out["content"] = None
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    elif message.name:
        out["name"] = message.name
    return out


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        image: dict[str, str] = {"url": part.url}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": part.text}


def _tool(tool: Any) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters) or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in _TOOL_CHOICE_MODES:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _response_format(request: CompletionRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object" or fmt.schema is None:
        return {"type": "json_object"}
    schema = {"name": fmt.name, "schema": dict(fmt.schema), "strict": fmt.strict}
    return {"type": "json_schema", "json_schema": schema}


# -- response ----------------------------------------------------------------


def parse_response(data: Any, *, provider: str, model: str) -> Answer:
    """A `chat.completion` body as an `Answer` (usage without cost); `provider` and
    `model` name the call in an invalid_response.

    A `refusal` (structured outputs) becomes the content with finish reason
    `content_filter`, so the engine can treat it as a refusal.
    """
    choice = _first_choice(data, provider, model)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise invalid_response(provider, model, "choices[0].message is missing")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise invalid_response(provider, model, "choices[0].message.content is not text")
    finish = _finish(choice.get("finish_reason"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not content:
        content, finish = refusal, FinishReason.CONTENT_FILTER
    raw_calls = message.get("tool_calls")
    if raw_calls and not isinstance(raw_calls, list):
        raise invalid_response(provider, model, "choices[0].message.tool_calls is not a list")
    calls = tuple([_tool_call(raw, provider, model) for raw in raw_calls]) if raw_calls else ()
    served = data.get("model")
    return Answer(
        content=content or "",
        finish_reason=finish,
        tool_calls=calls,
        usage=parse_usage(data.get("usage")),
        provider_model=served if isinstance(served, str) and 0 < len(served) <= 200 else None,
    )


def _first_choice(data: Any, provider: str, model: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid_response(provider, model, "the body is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise invalid_response(provider, model, "no choices in the completion")
    return choices[0]


def _tool_call(raw: Any, provider: str, model: str) -> ToolCall:
    function = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise invalid_response(provider, model, "a tool call has no function name")
    arguments = function.get("arguments")
    if isinstance(arguments, dict):  # some compatible servers send an object
        arguments = json.dumps(arguments)
    if arguments is not None and not isinstance(arguments, str):
        raise invalid_response(provider, model, "a tool call's arguments are not text")
    return ToolCall(str(raw.get("id") or ""), function["name"], arguments or "{}")


def _finish(value: object) -> FinishReason:
    """Unknown or missing reasons read as `stop`: servers vary, the content is what counts."""
    return _FINISH.get(value, FinishReason.STOP) if isinstance(value, str) else FinishReason.STOP


def parse_usage(raw: object) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    return Usage(as_int(raw.get("prompt_tokens")), as_int(raw.get("completion_tokens")))


def parse_stream_event(
    data: str, *, provider: str = "openai", model: str | None = None
) -> list[Delta]:
    """The deltas of one `chat.completion.chunk` (`data: [DONE]` is the caller's).

    One function, not three: it runs for every event of every stream.
    """
    try:
        chunk = orjson.loads(data)
    except ValueError as exc:
        raise invalid_response(provider, model, "a stream event is not valid JSON") from exc
    if not isinstance(chunk, dict):
        raise invalid_response(provider, model, "a stream event is not a JSON object")
    if isinstance(error := chunk.get("error"), dict):
        return [ErrorDelta(_stream_error(error, provider, model))]
    deltas: list[Delta] = []
    if choices := chunk.get("choices"):
        if not isinstance(choices, list):
            raise invalid_response(provider, model, "a stream event is malformed")
        if isinstance(choice := choices[0], dict):
            try:
                delta = choice.get("delta") or {}
                if isinstance(text := delta.get("content"), str) and text:
                    deltas.append(TextDelta(text))
                if calls := delta.get("tool_calls"):
                    deltas += _tool_call_deltas(calls)
            except (AttributeError, TypeError) as exc:  # a field of the wrong JSON type
                raise invalid_response(provider, model, "a stream event is malformed") from exc
            if isinstance(reason := choice.get("finish_reason"), str):
                deltas.append(FinishDelta(_finish(reason)))
    if isinstance(usage := chunk.get("usage"), dict):
        deltas.append(UsageDelta(parse_usage(usage)))
    return deltas


def _tool_call_deltas(calls: Any) -> list[Delta]:
    deltas: list[Delta] = []
    for raw in calls:
        function = raw.get("function") or {}
        call_id, name = raw.get("id"), function.get("name")
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str) or not all(
            v is None or isinstance(v, str) for v in (call_id, name)
        ):
            raise TypeError("a tool call's id, name or arguments is not text")
        deltas.append(
            ToolCallDelta(
                index=as_int(raw.get("index")), id=call_id, name=name, arguments=arguments
            )
        )
    return deltas


def _stream_error(error: dict[str, Any], provider: str, model: str | None) -> ProviderError:
    """An `{"error": {...}}` event sent after the stream began (no status to go by)."""
    code = _code_from_fields(_text(error.get("type")), _text(error.get("code")))
    return ProviderError(
        f"the stream failed: {sanitize_message(_text(error.get('message')))}",
        provider=provider,
        model=model,
        code=code or ErrorCode.UNAVAILABLE,
    )


# -- errors ------------------------------------------------------------------


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
    """An HTTP error as a `ProviderError`, from the status and `error.type`/`error.code`.

    `insufficient_quota` arrives as 429 but waiting will not help: it is
    classified `auth` (not retryable) so the engine moves to another profile.
    OpenRouter's 402 (out of credits) is treated the same way.
    """
    error_type, error_code, message = _error_fields(body)
    code = _code_from_fields(error_type, error_code)
    if code is None and status == 402:
        code = ErrorCode.AUTH
    if code is ErrorCode.AUTH and status in (402, 429):
        message = "the account's quota or credit is exhausted; add credit or use another key"
    return error_from_status(
        provider,
        model,
        status,
        headers,
        now_wall=now_wall,
        error_type=error_type,
        error_code=error_code,
        message=message,
        code=code,
        credential=credential,
    )


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """`(type, code, message)` of an `ErrorResponse`; all None for any other body."""
    try:
        data = decode_json(body)
    except ValueError:
        return None, None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None, None
    return _text(error.get("type")), _text(error.get("code")), _text(error.get("message"))


def _code_from_fields(error_type: str | None, error_code: str | None) -> ErrorCode | None:
    fields = {error_type, error_code}
    if fields & _QUOTA_CODES:
        return ErrorCode.AUTH
    if fields & _CONTENT_FILTER_CODES:
        return ErrorCode.CONTENT_FILTER
    if "context_length_exceeded" in fields:
        return ErrorCode.CONTEXT_LENGTH
    return None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)
