"""Shared scaffolding for the engine scenarios: a gateway over real adapters, and wire fakes.

Provider upstreams speak the documented wire formats:
- OpenAI Chat Completions: tests/specs/openai-chat.prism.yaml (`POST /chat/completions`,
  the `x-oaiMeta` "Default" example; error body `{"error": {"message", "type", "code"}}`).
- Anthropic Messages: tests/specs/anthropic-messages.prism.json (`Message`) and
  tests/specs/anthropic-wire-format.md ("Response body", "Errors", "Rate-limit and
  retry headers": `retry-after` in seconds on 429).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from laneway.clock import Clock, FakeClock
from laneway.engine.gateway import Gateway
from laneway.events import Event
from laneway.http import HttpxTransport
from laneway.providers.fake import FakeAdapter
from laneway.types import CompletionRequest

FIXTURES = Path(__file__).parents[2] / "fixtures"

NO_AUDIT: dict[str, Any] = {"enabled": False}


def config(
    lanes: Mapping[str, Any],
    *,
    providers: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A config dict with the `fake` provider `f` unless `providers` says otherwise."""
    return {
        "providers": dict(providers) if providers is not None else {"f": {"kind": "fake"}},
        "lanes": dict(lanes),
        "audit": NO_AUDIT,
        **sections,
    }


def gateway(
    cfg: Mapping[str, Any],
    *,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    transport: HttpxTransport | None = None,
) -> Gateway:
    return Gateway.from_config(cfg, env=env or {}, clock=clock or FakeClock(), transport=transport)


def fake(gw: Gateway, provider: str = "f") -> FakeAdapter:
    adapter = gw.adapter(provider)
    assert isinstance(adapter, FakeAdapter)
    return adapter


def ask(prompt: str = "hello") -> CompletionRequest:
    return CompletionRequest.from_prompt(prompt)


class Events:
    """A subscriber that keeps every event, for order and content assertions."""

    def __init__(self) -> None:
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.seen.append(event)

    def names(self) -> list[str]:
        return [type(e).__name__ for e in self.seen]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.seen if isinstance(e, kind)]


# -- wire-format upstreams ----------------------------------------------------------


class Upstream:
    """An httpx handler answering per URL host from queued responses; records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._answers: dict[str, list[httpx.Response]] = {}

    def queue(self, host: str, *responses: httpx.Response) -> None:
        self._answers.setdefault(host, []).extend(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self._answers.get(request.url.host)
        if not answers:
            return httpx.Response(500, json={"error": {"message": "nothing queued"}})
        return answers.pop(0)

    def transport(self) -> HttpxTransport:
        return HttpxTransport(transport=httpx.MockTransport(self))

    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def wire(self) -> str:
        """Everything sent: URLs, headers and bodies, as one searchable string."""
        return "\n".join(
            f"{r.url}\n{json.dumps(dict(r.headers))}\n{r.content.decode()}" for r in self.requests
        )


ANTHROPIC_HOST = "api.anthropic.com"
ZAI_HOST = "api.z.ai"


def anthropic_message(text: str, model: str = "claude-opus-4-5-20251101") -> httpx.Response:
    """A Messages API `Message` (fixture message_text.json's shape, with our text)."""
    body = json.loads((FIXTURES / "anthropic" / "message_text.json").read_text())
    body["model"] = model
    body["content"] = [{"type": "text", "text": text}]
    return httpx.Response(200, json=body)


def anthropic_error(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    """Anthropic's error shape: `{"type": "error", "error": {"type", "message"}}`."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return httpx.Response(status, json=body, headers=headers)


def openai_completion(text: str, model: str = "glm-4.7") -> httpx.Response:
    """A Chat Completions response (fixture chat_completion.json's shape, with our text)."""
    body = json.loads((FIXTURES / "openai" / "chat_completion.json").read_text())
    body["model"] = model
    body["choices"][0]["message"]["content"] = text
    return httpx.Response(200, json=body)


def openai_error(status: int, kind: str, message: str, **headers: str) -> httpx.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return httpx.Response(status, json=body, headers=headers)


REAL_PROVIDERS: dict[str, Any] = {
    "anthropic": {"kind": "anthropic"},
    "zai": {"kind": "openai_compatible", "preset": "zai"},
}

KEYS: dict[str, str] = {
    "ANTHROPIC_API_KEY": "sk-ant-test-key-000",
    "ZAI_API_KEY": "zai-test-key-000",
}

Handler = Callable[[httpx.Request], httpx.Response]


class CutStream(httpx.AsyncByteStream):
    """A response body that sends some chunks, then drops the connection."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        raise httpx.ReadError("connection reset by peer")
