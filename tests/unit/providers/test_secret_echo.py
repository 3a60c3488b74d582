"""A provider (or a proxy before it) that echoes our secret back never gets it into an error.

`sanitize_message` masks what looks like a key; these secrets look like
nothing in particular (an `api_key_command` token, a self-hosted server's
key), so the adapter masks the exact values it sent. Error bodies follow the
OpenAI error shape, tests/specs/openai-chat.prism.yaml (`ErrorResponse`:
`{"error": {"message", "type", "param", "code"}}`), and Anthropic's,
tests/specs/anthropic-wire-format.md ("Errors").
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from wire_helpers import AdapterMaker, CutStream, Upstream, ask, collect, counting_command

from laneway.config.schema import AnthropicProvider, OpenAICompatibleProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers.anthropic import AnthropicAdapter
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import ErrorDelta

TOKEN = "plain-token-4417"  # no key-like shape: only masking by value catches it
KEY = "selfhosted-key-93"


def openai_error(status: int, message: str) -> httpx.Response:
    body = {"error": {"message": message, "type": "x", "param": None, "code": None}}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize("status", [400, 401, 429, 500])
async def test_a_command_token_echoed_in_an_error_body_is_masked(
    adapters: AdapterMaker, tmp_path: Path, status: int
) -> None:
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", "")
    upstream = Upstream(openai_error(status, f"token {TOKEN} rejected"))
    adapter = make(
        upstream,
        base_url="http://llm.internal/v1",
        api_key_command=counting_command(tmp_path, TOKEN),
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), "m", timeout_s=5)
    assert upstream.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(caught.value)
    assert "token [redacted] rejected" in str(caught.value)


async def test_an_inline_key_echoed_in_a_stream_error_is_masked(adapters: AdapterMaker) -> None:
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", KEY)
    upstream = Upstream(openai_error(401, f"bad key {KEY}"))
    adapter = make(upstream, base_url="http://llm.internal/v1", api_key_env="K")
    with pytest.raises(ProviderError) as caught:
        await collect(adapter.stream(ask(), "m", timeout_s=5))
    assert caught.value.code is ErrorCode.AUTH
    assert KEY not in str(caught.value)


async def test_a_key_echoed_in_an_error_event_after_the_200_is_masked(
    adapters: AdapterMaker,
) -> None:
    """Anthropic's `event: error` mid-stream (anthropic-wire-format.md "Streaming")."""
    make = adapters("anthropic", AnthropicAdapter, AnthropicProvider, "ANTHROPIC_API_KEY", KEY)
    event = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
        b'"message": "overloaded for key ' + KEY.encode() + b'"}}\n\n'
    )
    upstream = Upstream(
        httpx.Response(200, stream=CutStream(event), headers={"content-type": "text/event-stream"})
    )
    deltas = await collect(make(upstream).stream(ask(), "claude-sonnet-4-5", timeout_s=5))
    errors = [d.error for d in deltas if isinstance(d, ErrorDelta)]
    assert len(errors) == 1
    assert KEY not in str(errors[0])


async def test_a_key_echoed_in_an_openai_error_chunk_after_a_delta_is_masked(
    adapters: AdapterMaker,
) -> None:
    """An OpenAI-compatible stream that fails mid-way sends `data: {"error": {...}}` (the
    shape openai-python's `Stream` raises as `APIError`); a proxy's may echo the key."""
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", KEY)
    delta = b'data: {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",'
    delta += b' "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}\n\n'
    error = b'data: {"error": {"message": "overloaded ' + KEY.encode() + b'"}}\n\n'
    upstream = Upstream(
        httpx.Response(
            200, stream=CutStream(delta + error), headers={"content-type": "text/event-stream"}
        )
    )
    adapter = make(upstream, base_url="http://llm.internal/v1", api_key_env="K")
    deltas = await collect(adapter.stream(ask(), "m", timeout_s=5))
    errors = [d.error for d in deltas if isinstance(d, ErrorDelta)]
    assert len(errors) == 1
    assert KEY not in str(errors[0])
    assert "overloaded" in str(errors[0])


async def test_a_secret_cut_by_the_message_limit_is_masked_too(adapters: AdapterMaker) -> None:
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", KEY)
    # sanitize_message keeps 299 characters and adds "…": 9 of the key's would remain
    upstream = Upstream(openai_error(400, "a " * 145 + KEY))
    adapter = make(upstream, base_url="http://llm.internal/v1", api_key_env="K")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), "m", timeout_s=5)
    message = caught.value.message
    assert "a a [redacted]…;" in message
    assert KEY[:4] not in message


async def test_an_error_label_is_one_short_masked_line_like_the_message(
    adapters: AdapterMaker,
) -> None:
    """`error.type`/`code` reached the client as sent: 200 KB, CR/LF, a token."""
    make = adapters("openai_compatible", OpenAIAdapter, OpenAICompatibleProvider, "K", KEY)
    token = "ghp_" + "a1B2" * 9
    label = "bad\r\nX-Injected: 1 " + token + " " + "x" * 200_000
    upstream = Upstream(
        httpx.Response(400, json={"error": {"message": "no", "type": label, "code": label}})
    )
    adapter = make(upstream, base_url="http://llm.internal/v1", api_key_env="K")
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), "m", timeout_s=5)
    text = str(caught.value)
    assert len(text) < 600
    assert "\r" not in text
    assert "\n" not in text
    assert token not in text
