"""Gemini `generateContent` on the wire: pure translation, no I/O.

Sources: the v1beta protos in `tests/specs/gemini-v1beta-protos/` (PROTO) in
their proto3 JSON form, and `tests/specs/gemini-wire-format.md` (NOTES).

Choices made here:
- Tool parameters and structured output are full JSON Schema, so they go in
  `parametersJsonSchema` and `responseJsonSchema` (PROTO `FunctionDeclaration`,
  `GenerationConfig`: "an alternative to `response_schema` that accepts JSON
  Schema"), not the OpenAPI-subset `Schema` fields.
- Gemini function calls may carry no id. We synthesize a stable one
  (`gcall_<index>_<digest of name and args>`) and never send a synthesized id
  back; a tool result finds its function name through the assistant turn that
  made the call.
- The API key goes in the `x-goog-api-key` header, never in the URL.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from laneway.config.schema import AuthHeader
from laneway.errors import ErrorCode, ProviderError
from laneway.http.sse import SseEvent
from laneway.providers._wire import (
    StreamFailure,
    WireError,
    WireProblem,
    WireRequestError,
    as_int,
    auth_headers,
    decode_event,
    decode_json,
    error_from_status,
)
from laneway.providers.ratelimit import parse_duration_s
from laneway.types import (
    Answer,
    CompletionRequest,
    Delta,
    FinishDelta,
    FinishReason,
    ImagePart,
    Message,
    Part,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageDelta,
)

JsonObject = dict[str, Any]

SYNTHETIC_ID_PREFIX = "gcall_"

#: PROTO `Candidate.FinishReason`; NOTES "Suggested mapping". Others count as stop.
_FINISH_REASONS: Mapping[str, FinishReason] = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    **{
        reason: FinishReason.CONTENT_FILTER
        for reason in (
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
        )
    },
}

#: `google.rpc.Status.status` -> our code (NOTES "Errors" table).
STATUS_CODES: Mapping[str, ErrorCode] = {
    "INVALID_ARGUMENT": ErrorCode.BAD_REQUEST,
    "NOT_FOUND": ErrorCode.BAD_REQUEST,
    # Billing not enabled / free tier not offered in the region: the provider
    # account cannot serve, whatever the input, so skip it like an auth failure.
    "FAILED_PRECONDITION": ErrorCode.AUTH,
    "UNAUTHENTICATED": ErrorCode.AUTH,
    "PERMISSION_DENIED": ErrorCode.AUTH,
    "RESOURCE_EXHAUSTED": ErrorCode.RATE_LIMIT,
    "UNAVAILABLE": ErrorCode.UNAVAILABLE,
    "INTERNAL": ErrorCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": ErrorCode.TIMEOUT,
}

#: PROTO `FileData.mime_type` is optional; named when the URL's extension says it.
_IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "heic": "image/heic",
    "heif": "image/heif",
}
_TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_INPUT_TOO_LONG = re.compile(r"input token count .* exceeds the maximum", re.IGNORECASE)


class PromptBlocked(WireProblem):
    """HTTP 200 without candidates and with `promptFeedback.blockReason` (NOTES)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the prompt was blocked ({reason})")
        self.reason = reason


# -- request -------------------------------------------------------------------


def build_url(base_url: str, api_version: str, model: str, *, stream: bool) -> str:
    """PROTO `rpc GenerateContent` / `StreamGenerateContent` bindings; SSE framing via `alt`."""
    name = quote(model.removeprefix("models/"), safe="-._~")
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base_url.rstrip('/')}/{api_version}/models/{name}:{method}"


def build_headers(
    api_key: str | None, *, extra: Mapping[str, str] = {}, auth: AuthHeader = "default"
) -> dict[str, str]:
    """NOTES "Endpoints and auth": the key travels in `x-goog-api-key`.

    `auth="bearer"` sends an OAuth access token as `authorization: Bearer` instead.
    """
    headers = {"content-type": "application/json", **extra}
    return headers | auth_headers(api_key, header="x-goog-api-key", style=auth)


def build_request(request: CompletionRequest) -> JsonObject:
    """A `GenerateContentRequest` in proto3 JSON (the model is in the URL, not the body)."""
    body: JsonObject = {"contents": _contents(request.messages)}
    system = [{"text": m.text} for m in request.messages if m.role == "system" and m.text]
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        if request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    if config := _generation_config(request):
        body["generationConfig"] = config
    return body


def _declaration(tool: Tool) -> JsonObject:
    declaration: JsonObject = {"name": tool.name, "description": tool.description or tool.name}
    if tool.parameters:
        declaration["parametersJsonSchema"] = dict(tool.parameters)
    return declaration


def _calling_config(choice: str) -> JsonObject:
    """PROTO `FunctionCallingConfig`: AUTO / ANY / NONE, ANY + one allowed name to force."""
    if mode := _TOOL_CHOICE_MODES.get(choice):
        return {"mode": mode}
    return {"mode": "ANY", "allowedFunctionNames": [choice]}


def _generation_config(request: CompletionRequest) -> JsonObject:
    config: JsonObject = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            config["responseJsonSchema"] = dict(fmt.schema)
    return config


def _contents(messages: tuple[Message, ...]) -> list[JsonObject]:
    """`Content` turns: user/model roles, tool results as user turns, same roles merged."""
    names = _call_names(messages)
    out: list[JsonObject] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = _parts(message, names)
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def _call_names(messages: tuple[Message, ...]) -> dict[str, str]:
    """Tool call id -> function name, from the assistant turns that made the calls."""
    return {call.id: call.name for m in messages for call in m.tool_calls}


def _parts(message: Message, names: Mapping[str, str]) -> list[JsonObject]:
    if message.role == "tool":
        return [_function_response(message, names)]
    parts = _content_parts(message.content)
    for call in message.tool_calls:
        parts.append({"functionCall": _with_id({"name": call.name, "args": _args(call)}, call.id)})
    return parts


def _function_response(message: Message, names: Mapping[str, str]) -> JsonObject:
    name = names.get(message.tool_call_id or "") or message.name
    if not name:
        raise WireRequestError(
            "a tool result must answer a tool call made earlier in the conversation "
            "(its tool_call_id matches no assistant tool call, and it has no name)"
        )
    response = _as_object(message.text)
    return {
        "functionResponse": _with_id({"name": name, "response": response}, message.tool_call_id)
    }


def _as_object(text: str) -> JsonObject:
    """PROTO `FunctionResponse.response` is a JSON object: wrap anything else as `output`."""
    try:
        value = decode_json(text)
    except ValueError:
        return {"output": text}
    return value if isinstance(value, dict) else {"output": value}


def _with_id(payload: JsonObject, call_id: str | None) -> JsonObject:
    if call_id and not call_id.startswith(SYNTHETIC_ID_PREFIX):
        payload["id"] = call_id
    return payload


def _args(call: ToolCall) -> JsonObject:
    try:
        value = decode_json(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        raise WireRequestError(f"tool call {call.name!r} has arguments that are not JSON") from exc
    if not isinstance(value, dict):
        raise WireRequestError(f"tool call {call.name!r} has arguments that are not a JSON object")
    return value


def _content_parts(content: str | tuple[Part, ...]) -> list[JsonObject]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    return [_image(p) if isinstance(p, ImagePart) else {"text": p.text} for p in content]


def _image(part: ImagePart) -> JsonObject:
    """PROTO `Blob` (`inlineData`) for `data:` URLs, `FileData` (`fileData`) otherwise."""
    if not part.url.startswith("data:"):
        file_data: JsonObject = {"fileUri": part.url}
        extension = part.url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        if mime := _IMAGE_TYPES.get(extension):
            file_data["mimeType"] = mime
        return {"fileData": file_data}
    header, sep, data = part.url[5:].partition(",")
    mime_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not mime_type:
        raise WireRequestError("an image data: URL must be data:<media type>;base64,<data>")
    return {"inlineData": {"mimeType": mime_type, "data": data}}


# -- response ------------------------------------------------------------------


def parse_response(body: object) -> Answer:
    """A `GenerateContentResponse`: first candidate's parts, finish reason, usage."""
    if not isinstance(body, dict):
        raise WireError("the body is not a JSON object")
    candidate = _candidate(body)
    texts, calls = _read_parts(candidate, first_index=0)
    raw_reason = candidate.get("finishReason")
    if not isinstance(raw_reason, str) and not texts and not calls:
        raise WireError("the candidate has neither content nor a finishReason")
    usage = body.get("usageMetadata")
    if not isinstance(usage, dict):
        raise WireError("the response has no usageMetadata")
    reason = raw_reason if isinstance(raw_reason, str) else "STOP"
    return Answer(
        content="".join(texts),
        tool_calls=tuple(calls),
        finish_reason=finish_reason(reason, has_calls=bool(calls)),
        usage=parse_usage(usage),
    )


def _candidate(body: Mapping[str, Any]) -> Mapping[str, Any]:
    candidates = body.get("candidates")
    if not candidates:
        feedback = body.get("promptFeedback")
        reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
        if isinstance(reason, str):
            raise PromptBlocked(reason)
        raise WireError("the response has no candidates")
    if not isinstance(candidates, list) or not isinstance(candidates[0], dict):
        raise WireError("candidates is not a list of objects")
    return candidates[0]


def _read_parts(
    candidate: Mapping[str, Any], *, first_index: int
) -> tuple[list[str], list[ToolCall]]:
    """Answer text (thought parts left out) and function calls, in order."""
    content = candidate.get("content") or {}
    parts = content.get("parts", []) if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise WireError("candidate content has no parts list")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in parts:
        if not isinstance(part, dict):
            raise WireError("a part is not an object")
        if isinstance(text := part.get("text"), str) and not part.get("thought"):
            texts.append(text)
        elif isinstance(fc := part.get("functionCall"), dict):
            calls.append(_tool_call(fc, first_index + len(calls)))
    return texts, calls


def _tool_call(call: Mapping[str, Any], index: int) -> ToolCall:
    name, args = call.get("name"), call.get("args") or {}
    if not isinstance(name, str) or not isinstance(args, dict):
        raise WireError("a functionCall part lacks its name or args object")
    arguments = json.dumps(args, separators=(",", ":"), ensure_ascii=False)
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        digest = hashlib.sha1(f"{name}\0{arguments}".encode(), usedforsecurity=False).hexdigest()
        call_id = f"{SYNTHETIC_ID_PREFIX}{index}_{digest[:12]}"
    return ToolCall(call_id, name, arguments)


def finish_reason(reason: str, *, has_calls: bool = False) -> FinishReason:
    """NOTES "Suggested mapping"; a STOP that carries function calls is `tool_calls`."""
    mapped = _FINISH_REASONS.get(reason, FinishReason.STOP)
    if mapped is FinishReason.STOP and has_calls:
        return FinishReason.TOOL_CALLS
    return mapped


def parse_usage(usage: Mapping[str, Any]) -> Usage:
    """Tool-use prompt tokens are input; thinking tokens are billed as output (NOTES)."""
    tokens_in = as_int(usage.get("promptTokenCount")) + as_int(usage.get("toolUsePromptTokenCount"))
    tokens_out = as_int(usage.get("candidatesTokenCount")) + as_int(usage.get("thoughtsTokenCount"))
    return Usage(tokens_in, tokens_out)


# -- streaming -----------------------------------------------------------------


@dataclass(slots=True)
class StreamState:
    """One `streamGenerateContent?alt=sse` stream; it ends at the finishReason chunk."""

    tools_seen: int = 0
    usage: Usage = field(default_factory=Usage)
    finished: bool = False


def parse_stream_event(event: SseEvent, state: StreamState) -> list[Delta]:
    """Deltas for one chunk, each a whole `GenerateContentResponse` (NOTES "Streaming")."""
    data = decode_event(event.data, what="stream chunk")
    if isinstance(error := data.get("error"), dict):
        raise StreamFailure(as_int(error.get("code")) or 500, event.data.encode())
    if isinstance(usage := data.get("usageMetadata"), dict):
        state.usage = parse_usage(usage)
    if not data.get("candidates") and not data.get("promptFeedback"):
        return []  # a usage-only chunk
    candidate = _candidate(data)
    texts, calls = _read_parts(candidate, first_index=state.tools_seen)
    deltas: list[Delta] = [TextDelta(text) for text in texts if text]
    for call in calls:
        deltas.append(ToolCallDelta(state.tools_seen, call.id, call.name, call.arguments))
        state.tools_seen += 1
    if isinstance(reason := candidate.get("finishReason"), str):
        state.finished = True
        finish = finish_reason(reason, has_calls=state.tools_seen > 0)
        deltas += [UsageDelta(state.usage), FinishDelta(finish)]
    return deltas


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
    """A `google.rpc.Status` body (NOTES "Errors") -> `ProviderError`.

    A bad key is 400 INVALID_ARGUMENT with an ErrorInfo `API_KEY_INVALID`, so the
    status alone would call it bad_request. The wait comes from `RetryInfo`.
    """
    error = _rpc_status(body)
    rpc_status = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    details = [d for d in error.get("details", []) if isinstance(d, dict)]
    code = STATUS_CODES.get(rpc_status or "")
    if any(_detail_is(d, "ErrorInfo") and d.get("reason") == "API_KEY_INVALID" for d in details):
        code = ErrorCode.AUTH
    elif rpc_status == "INVALID_ARGUMENT" and is_input_too_long(message):
        code = ErrorCode.CONTEXT_LENGTH
    if "retry-after" not in headers and (delay := _retry_delay_s(details)) is not None:
        headers = {**headers, "retry-after": f"{delay:.3f}"}
    return error_from_status(
        provider,
        model,
        status,
        headers,
        now_wall=now_wall,
        error_type=rpc_status,
        message=message,
        code=code,
        credential=credential,
    )


def is_input_too_long(message: str | None) -> bool:
    """No structured field says the prompt is too long; the documented body only says so.

    Recorded: 400 INVALID_ARGUMENT "The input token count (132478) exceeds the maximum
    number of tokens allowed (131072)." (github.com/google-gemini/gemini-cli/issues/4118).
    """
    return bool(message and _INPUT_TOO_LONG.search(message))


def _rpc_status(body: bytes) -> Mapping[str, Any]:
    try:
        data = decode_json(body)
    except ValueError:
        return {}  # e.g. an HTML page from a proxy: classify by status alone
    if isinstance(data, list) and data:  # without alt=sse, errors come in a JSON array
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _detail_is(detail: Mapping[str, Any], name: str) -> bool:
    kind = detail.get("@type")
    return isinstance(kind, str) and kind.endswith(f"google.rpc.{name}")


def _retry_delay_s(details: Sequence[Mapping[str, Any]]) -> float | None:
    for detail in details:
        if _detail_is(detail, "RetryInfo") and isinstance(delay := detail.get("retryDelay"), str):
            return parse_duration_s(delay)
    return None
