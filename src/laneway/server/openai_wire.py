"""OpenAI Chat Completions on the wire: parse a request body, render answers and chunks.

Pure functions, no I/O. Parsing validates exactly what laneway uses and names
the offending field (`messages[2].content`) in the error, the way OpenAI's own
400s do; fields laneway does not use (`frequency_penalty`, `logprobs`, ...) are
accepted and ignored so unmodified clients keep working. `user` and `metadata`
never reach the `CompletionRequest`: they describe the caller and go into the
`TaskContext` (see `context.py`).

Wire shapes: tests/specs OpenAI OpenAPI (`CreateChatCompletionRequest`,
`CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import orjson

from laneway.config.output_schema import REQUEST_SCHEMA_MAX_BYTES, schema_problem
from laneway.server.errors import ApiError, bad_request
from laneway.types import (
    Completion,
    CompletionRequest,
    Delta,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    Part,
    ResponseFormat,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_ROLES: Mapping[str, Literal["system", "user", "assistant", "tool"]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
_MAX_STOP = 4
#: a body with only these fields skips the optional ones' checks
_PLAIN_KEYS = frozenset({"model", "messages", "stream"})
_DUMPS = json.JSONEncoder(separators=(",", ":")).encode
_NO_METADATA: Mapping[str, str] = MappingProxyType({})


def _dump(value: object) -> bytes:
    """Compact UTF-8 JSON: orjson (several times faster on the hot path), else `json`."""
    try:
        return orjson.dumps(value)
    except TypeError:  # what orjson refuses (e.g. integers beyond 64 bits)
        return _DUMPS(value).encode()


def _load_refused(raw: bytes, exc: orjson.JSONDecodeError) -> Any:
    """`json`'s verdict on what orjson refused (NaN, integers beyond 64 bits).

    `json` also accepts a lone UTF-16 surrogate escape (`"\\ud800"`), a string no
    UTF-8 encoder takes (the audit's hashes and rows would fail on it): refused here.
    """
    value = json.loads(raw)
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError(exc) from None  # orjson's message names the surrogate
    return value


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A parsed `/v1/chat/completions` body: the provider-bound request and the caller fields."""

    model: str
    request: CompletionRequest
    metadata: Mapping[str, str]
    include_usage: bool = False
    user: str | None = None

    @property
    def stream(self) -> bool:
        return self.request.stream


def load_json_body(raw: bytes) -> dict[str, Any]:
    """A request body's JSON object; a 400 naming the problem when it is not one."""
    try:
        try:  # orjson first
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            body = _load_refused(raw, exc)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(
            f"the request body is not valid JSON ({exc}); send a JSON object",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise bad_request("the request body is nested too deeply", code="invalid_json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object", code="invalid_json")
    return body


def parse_chat_request(raw: bytes, *, max_messages: int) -> ChatRequest:
    """Parse and validate a body; raise `ApiError` (400) naming the bad field."""
    body = load_json_body(raw)
    given = body.get("model")
    model = given.strip() if isinstance(given, str) else ""
    if not model:
        raise _field("model", "is required: a lane name (e.g. 'coding') or 'provider/model'")
    stream = body.get("stream")
    if stream is None:
        stream = False
    elif not isinstance(stream, bool):
        raise _field("stream", "must be true or false")
    if _PLAIN_KEYS.issuperset(body):  # the usual body: no optional field to check
        messages = _messages(body.get("messages"), max_messages)
        request = CompletionRequest(messages=messages, stream=stream)
        return ChatRequest(model=model, request=request, metadata=_NO_METADATA)
    n = body.get("n")
    if n is not None and (_is_not_int(n) or n != 1):
        raise _field("n", "must be 1: laneway returns one choice per request")
    request = CompletionRequest(
        messages=_messages(body.get("messages"), max_messages),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        response_format=_response_format(body.get("response_format")),
        temperature=_opt_number(body, "temperature", 0.0, 2.0),
        top_p=_opt_number(body, "top_p", 0.0, 1.0),
        max_tokens=_max_tokens(body),
        seed=_opt_int(body, "seed", None),
        stop=_stop(body.get("stop")),
        stream=stream,
    )
    return ChatRequest(
        model=model,
        request=request,
        include_usage=_include_usage(body.get("stream_options")),
        user=_opt_str(body, "user"),
        metadata=_metadata(body.get("metadata")),
    )


# -- fields ------------------------------------------------------------------


def _field(param: str, problem: str) -> ApiError:
    return bad_request(f"`{param}` {problem}", param=param, code="invalid_field")


def _is_not_int(value: object) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _opt_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _field(name, "must be a string")


def _opt_number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _field(name, f"must be a number from {low:g} to {high:g}")
    return float(value)


def _opt_int(body: Mapping[str, Any], name: str, minimum: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if _is_not_int(value) or (minimum is not None and value < minimum):
        bound = f" of at least {minimum}" if minimum is not None else ""
        raise _field(name, f"must be an integer{bound}")
    return int(value)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    newer = _opt_int(body, "max_completion_tokens", 1)
    older = _opt_int(body, "max_tokens", 1)
    return newer if newer is not None else older


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if (
        isinstance(value, list)
        and len(value) <= _MAX_STOP
        and all(isinstance(item, str) for item in value)
    ):
        return tuple(value)
    raise _field("stop", f"must be a string or a list of at most {_MAX_STOP} strings")


def _include_usage(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise _field("stream_options", "must be an object")
    include = value.get("include_usage")
    if include is None or isinstance(include, bool):
        return bool(include)
    raise _field("stream_options.include_usage", "must be true or false")


#: OpenAI's `Metadata` (its OpenAPI spec): 16 pairs, keys up to 64 characters, values 512
_METADATA_PAIRS, _METADATA_KEY, _METADATA_VALUE = 16, 64, 512


def _metadata(value: object) -> Mapping[str, str]:
    if value is None:
        return _NO_METADATA
    if not isinstance(value, dict):
        raise _field("metadata", "must be an object of string values")
    if len(value) > _METADATA_PAIRS:
        raise _field("metadata", f"holds {len(value)} pairs; at most {_METADATA_PAIRS}")
    for key, item in value.items():
        if len(key) > _METADATA_KEY:
            raise _field("metadata", f"keys are at most {_METADATA_KEY} characters")
        if not isinstance(item, str) or len(item) > _METADATA_VALUE:
            raise _field(f"metadata.{key}", f"must be a string of at most {_METADATA_VALUE}")
    return value


# -- messages ----------------------------------------------------------------


def message_list(value: object, max_messages: int) -> list[Any]:
    """A body's `messages`: a non-empty list within `server.max_messages`, or a 400."""
    if not isinstance(value, list) or not value:
        raise _field("messages", "is required: a non-empty list of messages")
    if len(value) > max_messages:
        raise bad_request(
            f"`messages` has {len(value)} messages; this server accepts at most {max_messages} "
            "(server.max_messages)",
            param="messages",
            code="too_many_messages",
        )
    return value


def _messages(value: object, max_messages: int) -> tuple[Message, ...]:
    items = message_list(value, max_messages)
    return tuple(map(_message, items, range(len(items))))


def _message(value: object, index: int) -> Message:
    if not isinstance(value, dict):
        raise _field(f"messages[{index}]", "must be an object with `role` and `content`")
    given = value.get("role")
    role = _ROLES.get(given) if isinstance(given, str) else None  # a list is no key: 400, not 500
    text = value.get("content")
    if type(text) is str and len(value) == 2 and role is not None and role != "tool":
        return Message(role, text)  # the usual message: a role and a string, nothing else
    where = f"messages[{index}]"
    if role is None:
        raise _field(f"{where}.role", "must be one of system, developer, user, assistant, tool")
    content = _content(value.get("content"), f"{where}.content")
    tool_calls = _tool_calls(value.get("tool_calls"), f"{where}.tool_calls")
    tool_call_id = value.get("tool_call_id")
    if role == "tool" and not isinstance(tool_call_id, str):
        raise _field(f"{where}.tool_call_id", "is required for a tool message: a string")
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise _field(f"{where}.name", "must be a string")
    return Message(
        role=role,
        content=content,
        tool_calls=tool_calls,
        tool_call_id=tool_call_id if isinstance(tool_call_id, str) else None,
        name=name,
    )


def _content(value: object, where: str) -> str | tuple[Part, ...]:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if not isinstance(value, list):
        raise _field(where, "must be a string or a list of content parts")
    return tuple(_part(item, f"{where}[{i}]") for i, item in enumerate(value))


def _part(value: object, where: str) -> Part:
    if not isinstance(value, dict):
        raise _field(where, "must be an object with a `type`")
    kind = value.get("type")
    if kind == "text":
        text = value.get("text")
        if not isinstance(text, str):
            raise _field(f"{where}.text", "must be a string")
        return TextPart(text)
    if kind == "image_url":
        image = value.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise _field(f"{where}.image_url.url", "must be a string")
        detail = image.get("detail") if isinstance(image, dict) else None
        return ImagePart(url, detail if isinstance(detail, str) else None)
    raise _field(f"{where}.type", "must be 'text' or 'image_url' (laneway supports these parts)")


def _tool_calls(value: object, where: str) -> tuple[ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _field(where, "must be a list of tool calls")
    calls = []
    for i, item in enumerate(value):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(function, dict):
            raise _field(f"{where}[{i}].function", "must be an object with name and arguments")
        call_id, name = item.get("id"), function.get("name")
        arguments = function.get("arguments", "")
        if not isinstance(call_id, str) or not isinstance(name, str):
            raise _field(f"{where}[{i}]", "needs a string `id` and `function.name`")
        if not isinstance(arguments, str):
            raise _field(f"{where}[{i}].function.arguments", "must be a JSON string")
        calls.append(ToolCall(call_id, name, arguments))
    return tuple(calls)


# -- tools and formats -------------------------------------------------------


def _tools(value: object) -> tuple[Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _field("tools", "must be a list of function tools")
    tools = []
    for i, item in enumerate(value):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _field(f"tools[{i}].function.name", "is required: a string")
        parameters = function.get("parameters", {})
        if not isinstance(parameters, dict):
            raise _field(f"tools[{i}].function.parameters", "must be a JSON Schema object")
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            raise _field(f"tools[{i}].function.description", "must be a string")
        tools.append(Tool(function["name"], description, parameters))
    return tuple(tools)


def _tool_choice(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in _TOOL_CHOICES:
        return value
    if isinstance(value, dict):
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            name: str = function["name"]
            return name
    raise _field("tool_choice", "must be 'auto', 'none', 'required' or a function by name")


def _response_format(value: object) -> ResponseFormat | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind == "json_schema" and isinstance(value, dict):
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or not isinstance(schema, dict):
            raise _field("response_format.json_schema.schema", "must be a JSON Schema object")
        name = spec.get("name", "response")
        strict = spec.get("strict", True)
        if not isinstance(name, str) or not isinstance(strict, bool | None):
            raise _field("response_format.json_schema", "needs a string name and boolean strict")
        # here too: a degraded lane's `run` would answer it with the degraded message
        problem = schema_problem(schema, max_bytes=REQUEST_SCHEMA_MAX_BYTES)
        if problem is not None:
            raise _field(
                "response_format.json_schema.schema", f"is not a usable JSON Schema: {problem}"
            )
        return ResponseFormat("json_schema", schema, name, strict is not False)
    raise _field("response_format.type", "must be 'text', 'json_object' or 'json_schema'")


# -- answers -----------------------------------------------------------------


def completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id}"


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    function = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": function}


def render_completion(completion: Completion, *, request_id: str, created: int) -> bytes:
    """A `chat.completion` object; `model` is the `provider/model` that answered.

    One dict, built in place: orjson writes the finish reason, a `StrEnum`, as its value.
    """
    tool_calls = completion.tool_calls
    message: dict[str, Any] = {
        "role": "assistant",
        "content": completion.content if completion.content or not tool_calls else None,
    }
    if tool_calls:
        message["tool_calls"] = [_tool_call(call) for call in tool_calls]
    return _dump(
        {
            "id": completion_id(request_id),
            "object": "chat.completion",
            "created": created,
            "model": f"{completion.provider}/{completion.model}",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": completion.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(completion.usage),
        }
    )


def render_degraded(message: str, *, request_id: str, created: int, model: str) -> bytes:
    """The lane's configured degraded answer as a valid `chat.completion`, zero usage."""
    body = {
        "id": completion_id(request_id),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(Usage()),
    }
    return _dump(body)


def render_models(ids: list[tuple[str, str]], *, created: int) -> bytes:
    """`GET /v1/models`: (id, owner) pairs in OpenAI's list shape."""
    data = [
        {"id": model_id, "object": "model", "created": created, "owned_by": owner}
        for model_id, owner in ids
    ]
    return _dump({"object": "list", "data": data})


def render_json(value: object) -> bytes:
    return _dump(value)


DONE = b"data: [DONE]\n\n"
_OPENING_CHOICE = (
    b'{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}'
)
#: the finish chunk's one choice, by reason: rendered once, not per stream
_FINISH_CHOICES = {
    reason: _dump({"index": 0, "delta": {}, "finish_reason": reason.value, "logprobs": None})
    for reason in FinishReason
}


class ChunkWriter:
    """Turns stream deltas into `chat.completion.chunk` SSE events for one response.

    Every chunk repeats the same fields around its one choice, so they are
    rendered once per response (`_head`, `_tail`; for text, with the choice's fields
    around the text too) and a text chunk costs one `orjson.dumps` of its text: a
    third of a whole chunk's rendering, paid per delta.
    """

    __slots__ = ("_head", "_include_usage", "_tail", "_text_head", "_text_tail")

    def __init__(self, *, request_id: str, created: int, model: str, include_usage: bool) -> None:
        self._include_usage = include_usage
        fields = {
            "id": completion_id(request_id),
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._head = b"data: " + _dump(fields)[:-1] + b',"choices":['
        # OpenAI sends `usage: null` on content chunks when include_usage is on, so
        # clients can tell them from the usage chunk.
        self._tail = b'],"usage":null}\n\n' if include_usage else b"]}\n\n"
        self._text_head = self._head + b'{"index":0,"delta":{"content":'
        self._text_tail = b'},"finish_reason":null,"logprobs":null}' + self._tail

    def _event(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        """A chunk whose one choice carries `delta` (and `finish`)."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return self._head + _dump(choice) + self._tail

    def opening(self) -> bytes:
        return self._head + _OPENING_CHOICE + self._tail

    def text(self, delta: TextDelta) -> bytes:
        return self._text_head + _dump(delta.text) + self._text_tail

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        call: dict[str, Any] = {"index": delta.index}
        if delta.id is not None:
            call["id"] = delta.id
            call["type"] = "function"
        function: dict[str, str] = {"arguments": delta.arguments}
        if delta.name is not None:
            function["name"] = delta.name
        call["function"] = function
        return self._event({"tool_calls": [call]})

    def finish(self, delta: FinishDelta) -> bytes:
        return self._head + _FINISH_CHOICES[delta.finish_reason] + self._tail

    def deltas(self, deltas: list[Delta]) -> tuple[bytes, bool]:
        """The chunks of one upstream read's deltas, and whether any carries content (text
        or a tool call). Usage goes in the closing chunk; wire events are another format's."""
        if len(deltas) == 1 and isinstance(first := deltas[0], TextDelta):  # the usual read
            return self.text(first), True
        parts: list[bytes] = []
        content = False
        for delta in deltas:
            if isinstance(delta, TextDelta):
                parts.append(self.text(delta))
                content = True
            elif isinstance(delta, ToolCallDelta):
                parts.append(self.tool_call(delta))
                content = True
            elif isinstance(delta, FinishDelta):
                parts.append(self.finish(delta))
        return b"".join(parts), content

    def text_answer(self, message: str) -> bytes:
        """A whole answer in one content chunk plus its finish (degraded lanes)."""
        return self._event({"content": message}) + self._event({}, "stop")

    def usage(self, usage: Usage) -> bytes:
        """The final usage chunk (empty choices); only when the client asked for it."""
        if not self._include_usage:
            return b""
        return self._head + b'],"usage":' + _dump(_usage(usage)) + b"}\n\n"

    @staticmethod
    def error(error: ApiError) -> bytes:
        """A failure after the stream began: OpenAI SDKs raise on an `error` event."""
        return b"data: " + error.body() + b"\n\n"
