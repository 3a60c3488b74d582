"""Parsing and rendering of OpenAI Chat Completions bodies.

Wire shapes: tests/specs (OpenAI OpenAPI: CreateChatCompletionRequest,
CreateChatCompletionResponse, CreateChatCompletionStreamResponse).
"""

from __future__ import annotations

import json

import pytest

from laneway.errors import ErrorCode, ProviderError
from laneway.server.errors import ApiError
from laneway.server.openai_wire import (
    DONE,
    ChunkWriter,
    parse_chat_request,
    render_completion,
    render_degraded,
)
from laneway.types import (
    Completion,
    FinishDelta,
    FinishReason,
    ImagePart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def parse(body: object, *, max_messages: int = 100) -> object:
    return parse_chat_request(json.dumps(body).encode(), max_messages=max_messages)


def bad(body: object | bytes, *, max_messages: int = 100) -> ApiError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ApiError) as info:
        parse_chat_request(raw, max_messages=max_messages)
    assert info.value.status == 400
    return info.value


USER = [{"role": "user", "content": "hi"}]


def test_a_full_request_maps_every_field() -> None:
    chat = parse_chat_request(
        json.dumps(
            {
                "model": "coding",
                "messages": [
                    {"role": "developer", "content": "be brief"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "look"},
                            {"type": "image_url", "image_url": {"url": "data:x", "detail": "low"}},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{}"},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "42"},
                ],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": {"type": "object"}, "strict": True},
                },
                "temperature": 0.5,
                "top_p": 1,
                "max_completion_tokens": 50,
                "max_tokens": 10,
                "seed": 7,
                "stop": ["END"],
                "stream": True,
                "stream_options": {"include_usage": True},
                "user": "u-1",
                "metadata": {"phase": "plan", "team": "a"},
                "frequency_penalty": 0.1,
            }
        ).encode(),
        max_messages=10,
    )
    request = chat.request
    assert chat.model == "coding"
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool"]
    assert request.messages[1].content == (TextPart("look"), ImagePart("data:x", "low"))
    assert request.messages[2].tool_calls == (ToolCall("c1", "f", "{}"),)
    assert request.messages[3].tool_call_id == "c1"
    assert request.tools[0].name == "f"
    assert request.tool_choice == "f"
    assert request.response_format is not None
    assert request.response_format.schema == {"type": "object"}
    assert (request.temperature, request.top_p, request.max_tokens, request.seed) == (
        0.5,
        1.0,
        50,
        7,
    )
    assert request.stop == ("END",)
    assert chat.stream
    assert request.stream
    assert chat.include_usage
    assert chat.user == "u-1"
    assert chat.metadata == {"phase": "plan", "team": "a"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": USER}, "model"),
        ({"model": "", "messages": USER}, "model"),
        ({"model": 3, "messages": USER}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [1]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "bot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
        ),
        ({"model": "m", "messages": USER, "temperature": 3}, "temperature"),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": USER, "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": USER, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "m", "messages": USER, "n": 2}, "n"),
        (
            {"model": "m", "messages": USER, "tools": [{"type": "function"}]},
            "tools[0].function.name",
        ),
        ({"model": "m", "messages": USER, "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"model": "m", "messages": USER, "response_format": {"type": "xml"}},
            "response_format.type",
        ),
        ({"model": "m", "messages": USER, "metadata": {"a": 1}}, "metadata.a"),
        ({"model": "m", "messages": USER, "user": 5}, "user"),
        (
            {"model": "m", "messages": USER, "stream_options": {"include_usage": "y"}},
            "stream_options.include_usage",
        ),
    ],
)
def test_a_wrong_field_is_a_400_naming_it(body: object, param: str) -> None:
    error = bad(body)
    assert error.param == param
    assert f"`{param}`" in error.message


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_a_body_that_is_not_a_json_object_is_a_400(raw: bytes) -> None:
    error = bad(raw)
    assert error.code == "invalid_json"


def test_too_many_messages_is_a_400_with_its_own_code() -> None:
    error = bad({"model": "m", "messages": USER * 3}, max_messages=2)
    assert (error.code, error.param) == ("too_many_messages", "messages")


def test_user_and_metadata_never_reach_the_provider_request() -> None:
    chat = parse_chat_request(
        json.dumps(
            {"model": "m", "messages": USER, "user": "alice", "metadata": {"job_id": "j"}}
        ).encode(),
        max_messages=10,
    )
    assert "alice" not in repr(chat.request)
    assert "job_id" not in repr(chat.request)


def _completion(**kwargs: object) -> Completion:
    base: dict[str, object] = {
        "content": "hello",
        "provider": "zai",
        "model": "glm-4.7",
        "usage": Usage(3, 2),
    }
    base.update(kwargs)
    return Completion(**base)  # type: ignore[arg-type]


def test_a_completion_renders_as_chat_completion() -> None:
    body = json.loads(render_completion(_completion(), request_id="r1", created=5))
    assert body == {
        "id": "chatcmpl-r1",
        "object": "chat.completion",
        "created": 5,
        "model": "zai/glm-4.7",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def test_tool_calls_render_with_null_content() -> None:
    completion = _completion(
        content="",
        tool_calls=(ToolCall("c1", "f", '{"a":1}'),),
        finish_reason=FinishReason.TOOL_CALLS,
    )
    choice = json.loads(render_completion(completion, request_id="r", created=0))["choices"][0]
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    ]
    assert choice["finish_reason"] == "tool_calls"


def test_degraded_answer_is_a_valid_chat_completion() -> None:
    body = json.loads(render_degraded("busy", request_id="r", created=1, model="coding"))
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "busy"}
    assert body["usage"]["total_tokens"] == 0


def _events(data: bytes) -> list[object]:
    out: list[object] = []
    for block in data.split(b"\n\n"):
        if not block:
            continue
        assert block.startswith(b"data: ")
        payload = block.removeprefix(b"data: ")
        out.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return out


def test_chunks_follow_openai_stream_shape_with_usage() -> None:
    writer = ChunkWriter(request_id="r", created=9, model="zai/glm-4.7", include_usage=True)
    data = (
        writer.opening()
        + writer.text(TextDelta("he"))
        + writer.tool_call(ToolCallDelta(0, "c1", "f", "{"))
        + writer.tool_call(ToolCallDelta(0, None, None, "}"))
        + writer.finish(FinishDelta(FinishReason.STOP))
        + writer.usage(Usage(4, 1))
        + DONE
    )
    events = _events(data)
    assert events[-1] == "[DONE]"
    first, text, call, rest, finish, usage = events[:-1]  # type: ignore[misc]
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["usage"] is None
    assert text["choices"][0]["delta"] == {"content": "he"}
    assert call["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "c1", "type": "function", "function": {"arguments": "{", "name": "f"}}
    ]
    assert rest["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "function": {"arguments": "}"}}
    ]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
    assert {e["id"] for e in events[:-1]} == {"chatcmpl-r"}  # type: ignore[index]


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_text_chunk_is_the_whole_openai_chunk_whatever_the_text(include_usage: bool) -> None:
    """Text chunks are spliced from bytes rendered once per stream: quotes, newlines,
    non-ASCII and JSON-looking text must still come back as one valid chunk."""
    writer = ChunkWriter(request_id="r", created=9, model='m"odel', include_usage=include_usage)
    for text in ['say "hi"\n', "naïve 字 \u2028", '"},{"x":1', "\\", ""]:
        (chunk,) = _events(writer.text(TextDelta(text)))
        expected: dict[str, object] = {
            "id": "chatcmpl-r",
            "object": "chat.completion.chunk",
            "created": 9,
            "model": 'm"odel',
            "choices": [
                {"index": 0, "delta": {"content": text}, "finish_reason": None, "logprobs": None}
            ],
        }
        if include_usage:
            expected["usage"] = None
        assert chunk == expected


def test_no_usage_chunk_unless_asked() -> None:
    writer = ChunkWriter(request_id="r", created=9, model="m", include_usage=False)
    assert writer.usage(Usage(1, 1)) == b""
    assert "usage" not in _events(writer.text(TextDelta("x")))[0]  # type: ignore[operator]


def test_a_late_failure_is_an_error_event() -> None:
    from laneway.server.errors import to_api_error

    error = to_api_error(ProviderError("dropped", provider="p", code=ErrorCode.NETWORK))
    (event,) = _events(ChunkWriter.error(error))
    assert event["error"]["code"] == "upstream_unavailable"  # type: ignore[index]
