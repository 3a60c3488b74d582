"""The anthropic adapter's pass-through path, against `httpx.MockTransport`.

The upstream speaks the Messages API (https://docs.claude.com/en/api/messages;
stream events per https://docs.claude.com/en/docs/build-with-claude/streaming,
as in tests/fixtures/anthropic/stream_thinking.sse).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from laneway.config.presets import ANTHROPIC_PRESETS, preset_for
from laneway.config.schema import AnthropicProvider, OpenAICompatibleProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers.anthropic import AnthropicAdapter
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import (
    CompletionRequest,
    Message,
    TextDelta,
    ToolCallDelta,
    UsageDelta,
    WireEvent,
    WirePayload,
)
from wire_helpers import AdapterMaker

FIXTURES = Path(__file__).parents[2] / "fixtures" / "anthropic"
BODY: dict[str, Any] = {
    "model": "claude-opus-4-7",
    "max_tokens": 64,
    "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": "hi"}],
    "future_field": {"x": 1},
}


def _request(untranslatable: tuple[str, ...] = ()) -> CompletionRequest:
    wire = WirePayload(
        "anthropic",
        BODY,
        {"anthropic-beta": "b1", "anthropic-version": "2026-01-01"},
        untranslatable,
    )
    return CompletionRequest(messages=(Message("user", "hi"),), wire=wire)


async def test_a_stream_passes_every_event_but_text(adapters: AdapterMaker) -> None:
    seen: list[httpx.Request] = []
    sse = (FIXTURES / "stream_thinking.sse").read_bytes()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    make = adapters("anthropic", AnthropicAdapter, AnthropicProvider, "ANTHROPIC_API_KEY", "k")
    adapter = make(handler, headers={"anthropic-beta": "mine"})
    deltas = [d async for d in adapter.stream(_request(), "claude-opus-4-7", timeout_s=5)]
    sent = json.loads(seen[0].content)
    assert sent == {**BODY, "stream": True}
    assert seen[0].headers["anthropic-beta"] == "b1,mine"
    assert seen[0].headers["anthropic-version"] == "2026-01-01"
    names = [d.event for d in deltas if isinstance(d, WireEvent)]
    assert names.count("content_block_delta") == 5  # 2 thinking, 1 signature, 2 tool input
    assert "ping" in names
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Let me check ", "the weather."]
    signature = next(d for d in deltas if isinstance(d, WireEvent) and "signature_delta" in d.data)
    assert signature.content
    assert "Zx\\u00e9sig" in signature.data  # the upstream's own bytes
    assert any(isinstance(d, ToolCallDelta) and d.id for d in deltas)
    usage = next(d for d in deltas if isinstance(d, UsageDelta)).usage
    assert usage.cache_read_tokens == 2048
    assert usage.input_tokens == 2113 + 2048


async def test_an_answer_keeps_the_upstreams_body(adapters: AdapterMaker) -> None:
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-7",
        "content": [{"type": "redacted_thinking", "data": "xyz"}, {"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1, "cache_creation_input_tokens": 7},
    }
    make = adapters("anthropic", AnthropicAdapter, AnthropicProvider, "ANTHROPIC_API_KEY", "k")
    adapter = make(lambda request: httpx.Response(200, json=answer))
    completion = await adapter.complete(_request(), "claude-opus-4-7", timeout_s=5)
    assert completion.wire == answer
    assert completion.content == "ok"
    assert completion.usage.cache_write_tokens == 7


async def test_another_wire_refuses_what_it_cannot_say(adapters: AdapterMaker) -> None:
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", "k")
    adapter = make(lambda request: httpx.Response(500), base_url="http://x", api_key_env="K")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(_request(("document blocks",)), "glm-4.7", timeout_s=5)
    assert caught.value.code is ErrorCode.BAD_REQUEST
    assert "document blocks" in caught.value.message


def test_anthropic_presets_name_base_url_and_key() -> None:
    assert preset_for("anthropic", "zai") == ANTHROPIC_PRESETS["zai"]
    assert ANTHROPIC_PRESETS["deepseek"].base_url == "https://api.deepseek.com/anthropic"
    assert {p.key_env for p in ANTHROPIC_PRESETS.values()} == {
        "ZAI_API_KEY",
        "DEEPSEEK_API_KEY",
        "MOONSHOT_API_KEY",
        "MINIMAX_API_KEY",
    }
    assert preset_for("openai_compatible", "zai").base_url.endswith("/paas/v4")  # type: ignore[union-attr]
