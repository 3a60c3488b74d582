"""What every HTTP adapter does alike: how the secret is sent, and a rejected token refetched.

Wire formats: Anthropic NOTES `tests/specs/anthropic-wire-format.md` ("Endpoint and
request headers": `x-api-key`; "Errors": `authentication_error`); Gemini NOTES
`tests/specs/gemini-wire-format.md` ("Endpoints and auth": `x-goog-api-key`;
"Errors": `google.rpc.Status`); OpenAI `tests/specs/openai-chat.prism.yaml`
(`ApiKeyAuth` bearer scheme, `ErrorResponse`). OAuth access tokens go as
`Authorization: Bearer` on all three (Anthropic OAuth, Google OAuth 2.0:
https://ai.google.dev/gemini-api/docs/oauth). Success bodies are the fixtures
of each kind's own test module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from wire_helpers import AdapterMaker, Upstream, ask, collect, counting_command

from laneway.config.schema import (
    AnthropicProvider,
    GeminiProvider,
    OpenAIProvider,
    ProviderSpec,
)
from laneway.errors import ErrorCode, ProviderError
from laneway.providers.anthropic import AnthropicAdapter
from laneway.providers.gemini import GeminiAdapter
from laneway.providers.openai_compatible import OpenAIAdapter
from laneway.types import ErrorDelta

FIXTURES = Path(__file__).parents[2] / "fixtures"


@dataclass(frozen=True)
class Kind:
    name: str
    adapter: Callable[..., Any]
    spec: Callable[..., Any]
    key_env: str
    key_header: str  # where `auth_header: default` puts the secret
    key_prefix: str
    answer: str  # a 200 body in tests/fixtures/
    stream: str  # a whole SSE stream in tests/fixtures/
    unauthorized: dict[str, Any]  # the kind's documented 401 body

    def ok(self) -> httpx.Response:
        return httpx.Response(200, content=(FIXTURES / self.answer).read_bytes())

    def sse(self) -> httpx.Response:
        body = (FIXTURES / self.stream).read_bytes()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    def rejected(self) -> httpx.Response:
        return httpx.Response(401, json=self.unauthorized)


KINDS = [
    Kind(
        "anthropic",
        AnthropicAdapter,
        AnthropicProvider,
        "ANTHROPIC_API_KEY",
        "x-api-key",
        "",
        "anthropic/message_text.json",
        "anthropic/stream_text.sse",
        {"type": "error", "error": {"type": "authentication_error", "message": "invalid"}},
    ),
    Kind(
        "gemini",
        GeminiAdapter,
        GeminiProvider,
        "GEMINI_API_KEY",
        "x-goog-api-key",
        "",
        "gemini/generate_text.json",
        "gemini/stream_text.sse",
        {"error": {"code": 401, "message": "invalid", "status": "UNAUTHENTICATED"}},
    ),
    Kind(
        "openai",
        OpenAIAdapter,
        OpenAIProvider,
        "OPENAI_API_KEY",
        "authorization",
        "Bearer ",
        "openai/chat_completion.json",
        "openai/stream_text.sse",
        {
            "error": {
                "message": "invalid",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    ),
]
BY_NAME = pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
KEY = "key-0123456789-abcdef"


def maker(adapters: AdapterMaker, kind: Kind) -> Callable[..., Any]:
    return adapters(kind.name, kind.adapter, kind.spec, kind.key_env, KEY)


@BY_NAME
async def test_the_default_auth_header_is_the_kinds_own(adapters: AdapterMaker, kind: Kind) -> None:
    upstream = Upstream(kind.ok())
    await maker(adapters, kind)(upstream).complete(ask(), "m", timeout_s=5)
    headers = upstream.requests[0].headers
    assert headers[kind.key_header] == kind.key_prefix + KEY
    if kind.key_header != "authorization":
        assert "authorization" not in headers


@BY_NAME
async def test_bearer_auth_sends_the_command_token_as_authorization(
    adapters: AdapterMaker, kind: Kind, tmp_path: Path
) -> None:
    """`auth_header: bearer` with `api_key_command`: the OAuth set-up of the issue."""
    upstream = Upstream(kind.ok(), kind.sse())
    adapter = maker(adapters, kind)(
        upstream, api_key_command=counting_command(tmp_path, "oauth-N"), auth_header="bearer"
    )
    await adapter.complete(ask(), "m", timeout_s=5)
    deltas = await collect(adapter.stream(ask(), "m", timeout_s=5))
    assert deltas
    assert not any(isinstance(d, ErrorDelta) for d in deltas)
    for request in upstream.requests:
        assert request.headers["authorization"] == "Bearer oauth-1"
        assert "x-api-key" not in request.headers
        assert "x-goog-api-key" not in request.headers


@BY_NAME
async def test_a_rejected_command_token_is_fetched_anew(
    adapters: AdapterMaker, kind: Kind, tmp_path: Path
) -> None:
    """A 401 (`auth`) drops the cached token: it may have expired before it said."""
    upstream = Upstream(kind.rejected(), kind.ok())
    adapter = maker(adapters, kind)(
        upstream, api_key_command=counting_command(tmp_path, "oauth-N"), auth_header="bearer"
    )
    with pytest.raises(ProviderError) as caught:
        await adapter.complete(ask(), "m", timeout_s=5)
    assert caught.value.code is ErrorCode.AUTH
    await adapter.complete(ask(), "m", timeout_s=5)
    tokens = [r.headers["authorization"] for r in upstream.requests]
    assert tokens == ["Bearer oauth-1", "Bearer oauth-2"]


def test_auth_header_defaults_and_accepts_only_known_styles() -> None:
    specs: TypeAdapter[Any] = TypeAdapter(ProviderSpec)
    assert specs.validate_python({"kind": "anthropic"}).auth_header == "default"
    assert specs.validate_python({"kind": "gemini", "auth_header": "bearer"}).auth_header == (
        "bearer"
    )
    with pytest.raises(ValidationError, match="auth_header"):
        specs.validate_python({"kind": "anthropic", "auth_header": "basic"})
