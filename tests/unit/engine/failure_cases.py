"""The failure cases of the resilience docs, over the real adapters and their wire formats.

Shared by the scenario tests (`test_failure_semantics.py`) and the count script
(`bench/failure_scenarios.py`). Every upstream is an `httpx.MockTransport`
handler speaking the provider's documented format:

- Anthropic Messages: the `Message` body (tests/fixtures/anthropic/message_text.json),
  errors `{"type": "error", "error": {"type", "message"}}`, SSE events
  (tests/fixtures/anthropic/stream_text.sse);
  https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/api/errors
- OpenAI Chat Completions (Z.AI preset): the `chat.completion` body with `usage`
  (tests/fixtures/openai/chat_completion.json);
  https://platform.openai.com/docs/api-reference/chat/object
- Gemini generateContent: the `GenerateContentResponse` body
  (tests/fixtures/gemini/generate_text.json), errors `{"error": {"code", "message",
  "status"}}` (tests/fixtures/gemini/error_429.json); https://ai.google.dev/api/generate-content
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from laneway.audit.backends import build_store
from laneway.audit.records import RequestRow
from laneway.audit.store import RequestFilter
from laneway.clock import FakeClock
from laneway.config.store_urls import parse_store_url
from laneway.engine.gateway import Gateway
from laneway.events import Event, RequestFinished
from laneway.http import HttpxTransport
from laneway.types import CompletionRequest, Message, Outcome, TaskContext

FIXTURES = Path(__file__).parents[2] / "fixtures"
ANTHROPIC = "api.anthropic.com"
ZAI = "api.z.ai"
GEMINI = "generativelanguage.googleapis.com"
KEYS = {
    "ANTHROPIC_API_KEY": "sk-ant-test-key-000",
    "ZAI_API_KEY": "zai-test-key-000",
    "GEMINI_API_KEY": "gemini-test-key-000",
}
PROVIDERS: dict[str, Any] = {
    "anthropic": {"kind": "anthropic"},
    "zai": {
        "kind": "openai_compatible",
        "preset": "zai",
        "models": {"glm-4.7": {"price": {"input": 1.0, "output": 10.0}}},
    },
    "gemini": {"kind": "gemini"},
}
Responder = Callable[[httpx.Request], httpx.Response]


def anthropic_ok(request: httpx.Request) -> httpx.Response:
    body = json.loads((FIXTURES / "anthropic" / "message_text.json").read_text())
    return httpx.Response(200, json=body)


def anthropic_error(status: int, kind: str) -> Responder:
    body = {"type": "error", "error": {"type": kind, "message": f"scripted {kind}"}}
    return lambda request: httpx.Response(status, json=body)


def gemini_ok(request: httpx.Request) -> httpx.Response:
    if "streamGenerateContent" in request.url.path:
        body = (FIXTURES / "gemini" / "stream_text.sse").read_bytes()
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})
    return httpx.Response(200, content=(FIXTURES / "gemini" / "generate_text.json").read_bytes())


def gemini_error(status: int, state: str) -> Responder:
    body = {"error": {"code": status, "message": f"scripted {state}", "status": state}}
    return lambda request: httpx.Response(status, json=body)


def truncated_json(request: httpx.Request) -> httpx.Response:
    whole = (FIXTURES / "openai" / "chat_completion.json").read_text()
    return httpx.Response(200, content=whole[: len(whole) // 2].encode())


def zai_ok(usage_factor: float = 1.0) -> Responder:
    """A completion whose usage is `usage_factor` times laneway's old estimate (chars / 4)."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        chars = sum(len(m.get("content") or "") + 8 for m in sent["messages"])
        body = json.loads((FIXTURES / "openai" / "chat_completion.json").read_text())
        prompt = int(chars // 4 * usage_factor)
        completion = int(sent.get("max_tokens") or 1024)
        body["usage"] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        return httpx.Response(200, json=body)

    return answer


def cut_stream(request: httpx.Request) -> httpx.Response:
    """The Messages SSE stream up to its first text delta, then the connection drops."""
    events = (FIXTURES / "anthropic" / "stream_text.sse").read_text().split("\n\n")
    head = [e for e in events if e.strip()][:4]  # message_start .. the first text delta
    body = ("\n\n".join(head) + "\n\n").encode()
    return httpx.Response(200, stream=_Cut(body), headers={"content-type": "text/event-stream"})


class _Cut(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.body
        raise httpx.ReadError("connection reset by peer")


@dataclass
class World:
    """One gateway over scripted upstreams, counting calls per host."""

    routes: dict[str, Responder]
    lanes: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    state_url: str = "memory://"
    providers: dict[str, Any] = field(default_factory=lambda: dict(PROVIDERS))
    env: dict[str, str] = field(default_factory=lambda: dict(KEYS))
    calls: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)
    #: a SQLite audit log to write (None: no audit)
    audit_db: Path | None = None

    async def handler(self, request: httpx.Request) -> httpx.Response:
        """Answers after a few passes of the loop, so concurrent requests are in flight
        together (a synchronous handler would finish each call before the next began)."""
        self.calls[request.url.host] += 1
        for _ in range(3):
            await asyncio.sleep(0)
        return self.routes[request.url.host](request)

    def gateway(self) -> Gateway:
        cfg = {
            "providers": self.providers,
            "lanes": self.lanes,
            "audit": (
                {"enabled": False}
                if self.audit_db is None
                else {"url": f"sqlite:///{self.audit_db}", "durability": "strict"}
            ),
            # these scenarios test failure semantics, not a slow store: a busy CI
            # machine must not turn 200 concurrent Redis round trips into state errors
            "state": {"url": self.state_url, "connect_timeout_s": 5.0, "command_timeout_s": 5.0},
            **self.extra,
        }
        transport = HttpxTransport(transport=httpx.MockTransport(self.handler))
        gw = Gateway.from_config(cfg, env=self.env, clock=self.clock, transport=transport)
        gw.subscribe(self.events.append)
        return gw

    def finished(self) -> list[RequestFinished]:
        return [e for e in self.events if isinstance(e, RequestFinished)]

    async def audit_rows(self) -> list[RequestRow]:
        """The audit log's request rows, oldest first (read after the gateway closed)."""
        assert self.audit_db is not None
        store = build_store(parse_store_url(f"sqlite:///{self.audit_db}"))
        await store.open()
        try:
            rows = await store.select_requests(RequestFilter())
        finally:
            await store.aclose()
        return sorted(rows, key=lambda row: row.ts)


def ask(text: str = "hello", max_tokens: int | None = None) -> CompletionRequest:
    return CompletionRequest(messages=(Message("user", text),), max_tokens=max_tokens)


async def run_many(gw: Gateway, n: int, ctx: TaskContext, *, concurrent: bool) -> list[Outcome]:
    if concurrent:
        return list(await asyncio.gather(*(gw.run(ask(), ctx) for _ in range(n))))
    return [await gw.run(ask(), ctx) for _ in range(n)]
