"""`/v1/messages` bodies to laneway's request and back, pure.

Shapes: `tests/specs/anthropic-messages.prism.json` (`CreateMessageParams`, `Message`,
`MessageStreamEvent`) as copied into tests/fixtures/anthropic, and
https://docs.claude.com/en/api/messages.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from laneway.server.anthropic_errors import anthropic_status, error_body
from laneway.server.anthropic_stream import PassthroughStream, TranslatedStream
from laneway.server.anthropic_wire import parse_messages_request, render_message
from laneway.server.errors import ApiError, bad_request
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
    UsageDelta,
    WireEvent,
)


def _parse(body: dict[str, Any], **options: Any) -> Any:
    options.setdefault("forward_user_id", False)
    return parse_messages_request(
        json.dumps(body).encode(), max_messages=100, headers={}, **options
    )


def test_a_conversation_translates_with_ids_kept() -> None:
    body = {
        "model": "coding",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "text", "text": "calling"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "ok"}],
                    },
                    {"type": "text", "text": "and now?"},
                ],
            },
        ],
        "tools": [
            {
                "name": "f",
                "input_schema": {"type": "object"},
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tool_choice": {"type": "tool", "name": "f"},
        "stop_sequences": ["X"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    request = _parse(body).request
    roles = [m.role for m in request.messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert request.messages[0].content == "A\n\nB"
    assert request.messages[1].content == (
        TextPart("look"),
        ImagePart("data:image/png;base64,iVBO"),
    )
    assert request.messages[2].tool_calls == (ToolCall("toolu_1", "f", '{"a":1}'),)
    assert request.messages[3].tool_call_id == "toolu_1"
    assert request.messages[3].content == "ok"
    assert request.tool_choice == "f"
    assert request.stop == ("X",)
    assert request.wire.untranslatable == ()
    assert request.wire.dropped == ("thinking", "cache_control")
    assert request.wire.body == body  # kept whole for an Anthropic-format model


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"top_k": 3}, "top_k"),
        ({"mcp_servers": []}, "mcp_servers"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "server tool bash_20250124"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
            "document blocks",
        ),
    ],
)
def test_untranslatable_features_are_named(extra: dict[str, Any], named: str) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], **extra}
    assert named in _parse(body).request.wire.untranslatable


def test_user_id_stays_with_laneway_unless_configured() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": "u1"},
    }
    kept = _parse(body)
    assert kept.user == "u1"
    assert "metadata" not in kept.request.wire.body
    assert _parse(body, forward_user_id=True).request.wire.body["metadata"] == {"user_id": "u1"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "messages[0].role",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "temperature": 3,
            },
            "temperature",
        ),
    ],
)
def test_bad_bodies_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ApiError) as caught:
        _parse(body)
    assert caught.value.status == 400
    assert caught.value.param == param


def test_a_translated_answer_is_a_spec_message() -> None:
    completion = Completion(
        content="Sure.",
        provider="glm",
        model="glm-4.7",
        finish_reason=FinishReason.TOOL_CALLS,
        tool_calls=(ToolCall("call_1", "f", '{"a":1}'),),
        usage=Usage(120, 9, None, cache_read_tokens=100, cache_write_tokens=0),
    )
    message = json.loads(render_message(completion, request_id="r1"))
    assert message == {
        "id": "msg_r1",
        "type": "message",
        "role": "assistant",
        "model": "glm-4.7",
        "content": [
            {"type": "text", "text": "Sure."},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 9,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
        },
    }


def test_an_upstream_message_is_sent_as_it_came() -> None:
    upstream = {"id": "msg_x", "content": [{"type": "thinking", "signature": "s"}], "new": 1}
    completion = Completion("", "claude", "m", wire=upstream)
    assert json.loads(render_message(completion, request_id="r")) == upstream


def _events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for frame in raw.decode().strip().split("\n\n"):
        name, data = frame.split("\n")
        out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_translated_stream_follows_anthropics_event_order() -> None:
    writer = TranslatedStream("r", "glm-4.7")
    raw = writer.feed(TextDelta("Hi"))
    raw += writer.feed(ToolCallDelta(0, id="call_1", name="f"))
    raw += writer.feed(ToolCallDelta(0, arguments='{"a":'))
    raw += writer.feed(ToolCallDelta(0, arguments="1}"))
    raw += writer.feed(FinishDelta(FinishReason.TOOL_CALLS))
    raw += writer.done(Completion("Hi", "glm", "glm-4.7", usage=Usage(10, 5)))
    events = _events(raw)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[4][1]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "f",
        "input": {},
    }
    assert events[8][1]["delta"]["stop_reason"] == "tool_use"
    assert events[8][1]["usage"]["output_tokens"] == 5


def test_passthrough_stream_writes_text_into_the_open_block_and_holds_message_stop() -> None:
    writer = PassthroughStream("r")
    start = '{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}'
    assert writer.feed(WireEvent("content_block_start", start, True)).endswith(
        start.encode() + b"\n\n"
    )
    text = _events(writer.feed(TextDelta("yo")))
    assert text == [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "yo"},
            },
        )
    ]
    assert writer.feed(UsageDelta(Usage(1, 1))) == b""
    assert writer.feed(WireEvent("message_stop", '{"type":"message_stop"}')) == b""
    assert (
        writer.done(Completion("yo", "c", "m"))
        == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (400, "invalid_request_error")),
        (401, (401, "authentication_error")),
        (403, (403, "permission_error")),
        (404, (404, "not_found_error")),
        (413, (413, "request_too_large")),
        (429, (429, "rate_limit_error")),
        (500, (500, "api_error")),
        (503, (529, "overloaded_error")),
        (504, (504, "timeout_error")),
    ],
)
def test_errors_take_anthropics_statuses(status: int, expected: tuple[int, str]) -> None:
    error = ApiError(status, "m", type="x", code="c")
    assert anthropic_status(error) == expected


def test_error_body_shape() -> None:
    body = json.loads(error_body(bad_request("`x` is wrong"), "req_1"))
    assert body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "`x` is wrong"},
        "request_id": "req_1",
    }
