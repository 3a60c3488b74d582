"""No key, bearer token or command output leaves laneway: a full scenario suite, then a search.

Recognisable fake secrets (all containing `MARK`) are configured for four
providers — `anthropic`, `openai_compatible` with the `zai` preset, `gemini`,
and an `openai_compatible` server whose token comes from `api_key_command` and
whose gateway token is a config `headers:` value — plus a client key and an
admin key. Fake upstreams (`httpx.MockTransport` through `HttpxTransport`)
speak each provider's wire format and answer success, 401 with a body echoing
the request's auth header (some proxies do), 429, a 500 proxy page echoing
every request header, a garbage 200, and cut streams. Every scenario runs
through the library (`Gateway`) and through the real server (`create_app` under
uvicorn on port 0, with the `openai` SDK and raw httpx as clients), with audit
on a real SQLite file, Prometheus metrics and OTel spans on. Then every place a
secret could end up is searched: the SQLite files, the rows the audit query
functions return, the logs, every response body and header, every exception,
the events, `/metrics`, the CLI outputs (`logs`, `logs show`, `stats`, `check`,
`config show`) and the spans.

Wire formats:
- Anthropic Messages: tests/specs/anthropic-wire-format.md ("Response body",
  "Streaming", "Errors": `{"type": "error", "error": {"type", "message"}}`,
  `retry-after` on 429); fixtures tests/fixtures/anthropic/.
- OpenAI Chat Completions (Z.AI and the command-token server):
  tests/specs/openai-chat.prism.yaml `POST /chat/completions` (JSON and SSE
  examples; error `{"error": {"message", "type", "param", "code"}}`);
  fixtures tests/fixtures/openai/.
- Gemini `generateContent` / `streamGenerateContent?alt=sse`:
  tests/specs/gemini-wire-format.md (key in `x-goog-api-key`, error
  `{"error": {"code", "message", "status"}}`); fixtures tests/fixtures/gemini/.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import openai
import pytest
import uvicorn
from openai.types.chat import ChatCompletionMessageParam
from typer.testing import CliRunner
from uvicorn_thread import serve_in_thread

from laneway.audit.backends import open_for_reading
from laneway.audit.query import routing_stats, summarize
from laneway.audit.store import RequestFilter
from laneway.cli.main import app as cli_app
from laneway.clock import FakeClock
from laneway.config.store_urls import parse_store_url
from laneway.engine.gateway import Gateway
from laneway.errors import LanewayError
from laneway.events import Event
from laneway.http import HttpxTransport
from laneway.server.app import create_app
from laneway.telemetry.metrics import Metrics
from laneway.types import CompletionRequest, ErrorDelta, TaskContext

MARK = "LEAKCANARY"
ANTHROPIC_KEY = f"sk-ant-{MARK}-anthropic-0001"
ZAI_KEY = f"sk-{MARK}-zai-0002"
GEMINI_KEY = f"AIza-{MARK}-gemini-0003"
CMD_TOKEN = f"cmd-token-{MARK}-0004"
CLIENT_KEY = f"lw-client-{MARK}-0005"
ADMIN_KEY = f"lw-admin-{MARK}-0006"
WRONG_KEY = f"lw-client-{MARK}-wrong-0007"
#: a provider `headers:` value (a gateway token in front of the corp server)
CORP_HEADER = f"gw-{MARK}-0008"

ENV = {
    "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    "ZAI_API_KEY": ZAI_KEY,
    "LANEWAY_CLIENT_KEY": CLIENT_KEY,
    "LANEWAY_ADMIN_KEY": ADMIN_KEY,
}

FIXTURES = Path(__file__).parents[1] / "fixtures"
MODES = ("ok", "400", "401", "429", "500", "garbage", "cut")
LANES = ("anthropic", "zai", "gemini", "corp", "all")
WIRES = {
    "api.anthropic.com": "anthropic",
    "api.z.ai": "openai",
    "llm.corp.example": "openai",
    "generativelanguage.googleapis.com": "gemini",
}
AUTH_HEADER = {"anthropic": "x-api-key", "openai": "authorization", "gemini": "x-goog-api-key"}
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say hello"}]


# -- the fake upstreams -------------------------------------------------------------


class CutStream(httpx.AsyncByteStream):
    """A body that sends its first chunk, then drops the connection."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.first
        raise httpx.ReadError("connection reset by peer")


@dataclass
class Upstream:
    """Answers every provider host in its own wire format, as `mode` says."""

    mode: str = "ok"
    auth_seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the gateways' clock: each new mode starts past any credential's quarantine
    clock: FakeClock = field(default_factory=FakeClock)

    def switch(self, mode: str) -> None:
        self.mode = mode
        self.clock.advance(3600)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        wire = WIRES[request.url.host]
        auth = request.headers.get(AUTH_HEADER[wire], "")
        with self.lock:
            self.auth_seen.add(auth)
            self.auth_seen.add(request.headers.get("x-corp-gateway", ""))
        stream = _is_stream(request, wire)
        echoed = f"{AUTH_HEADER[wire]}: {auth} (key {auth.removeprefix('Bearer ')})"
        if "x-corp-gateway" in request.headers:
            echoed += f", gateway {request.headers['x-corp-gateway']}"
        everything = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        if self.mode == "ok":
            return _success(wire, stream)
        if self.mode in ("400", "401", "429"):
            headers = {"retry-after": "1"} if self.mode == "429" else {}
            body = _error_body(wire, int(self.mode), f"rejected, received {echoed}")
            return httpx.Response(int(self.mode), json=body, headers=headers)
        if self.mode == "500":
            page = f"<html><h1>Bad gateway</h1><pre>{everything}</pre></html>"
            return httpx.Response(500, text=page, headers={"content-type": "text/html"})
        if self.mode == "garbage":
            junk = f"data: {{not json {echoed}\n\n" if stream else f"<html>{everything}</html>"
            return httpx.Response(200, text=junk, headers={"content-type": _type(stream)})
        first = _fixture_bytes(wire, stream)
        return httpx.Response(
            200,
            stream=CutStream(first[: len(first) // 3]),
            headers={"content-type": _type(stream)},
        )


def _is_stream(request: httpx.Request, wire: str) -> bool:
    if wire == "gemini":
        return request.url.path.endswith(":streamGenerateContent")
    return bool(json.loads(request.content).get("stream"))


def _type(stream: bool) -> str:
    return "text/event-stream" if stream else "application/json"


def _fixture_bytes(wire: str, stream: bool) -> bytes:
    name = {
        ("anthropic", False): "anthropic/message_text.json",
        ("anthropic", True): "anthropic/stream_text.sse",
        ("openai", False): "openai/chat_completion.json",
        ("openai", True): "openai/stream_text.sse",
        ("gemini", False): "gemini/generate_text.json",
        ("gemini", True): "gemini/stream_text.sse",
    }[(wire, stream)]
    return (FIXTURES / name).read_bytes()


def _success(wire: str, stream: bool) -> httpx.Response:
    return httpx.Response(
        200, content=_fixture_bytes(wire, stream), headers={"content-type": _type(stream)}
    )


_ERROR_TYPES = {  # status -> (anthropic error type, gemini status, openai code)
    400: ("invalid_request_error", "INVALID_ARGUMENT", "invalid_request"),
    401: ("authentication_error", "UNAUTHENTICATED", "invalid_api_key"),
    429: ("rate_limit_error", "RESOURCE_EXHAUSTED", "rate_limit_exceeded"),
}


def _error_body(wire: str, status: int, message: str) -> dict[str, Any]:
    kind, state, code = _ERROR_TYPES[status]
    if wire == "anthropic":
        return {"type": "error", "error": {"type": kind, "message": message}}
    if wire == "gemini":
        return {"error": {"code": status, "message": message, "status": state}}
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# -- configuration --------------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    script = tmp_path / "token.sh"
    script.write_text(f"#!/bin/sh\necho {CMD_TOKEN}\n")
    config = {
        "providers": {
            "anthropic": {"kind": "anthropic", "api_key": "${ANTHROPIC_API_KEY}"},
            "zai": {"kind": "openai_compatible", "preset": "zai"},
            "gemini": {"kind": "gemini", "api_key": GEMINI_KEY},  # inline in the file
            "corp": {
                "kind": "openai_compatible",
                "base_url": "https://llm.corp.example/v1",
                "api_key_command": f"sh {script}",
                "headers": {"x-corp-gateway": CORP_HEADER},
            },
        },
        "lanes": {
            "anthropic": {"primary": "anthropic/claude-sonnet-4-5"},
            "zai": {"primary": "zai/glm-4.7"},
            "gemini": {"primary": "gemini/gemini-2.5-flash"},
            "corp": {"primary": "corp/corp-model"},
            "all": {
                "primary": "anthropic/claude-sonnet-4-5",
                "fallback": ["zai/glm-4.7", "gemini/gemini-2.5-flash", "corp/corp-model"],
            },
        },
        "retry": {"rate_limit": {"retries": 1}, "unavailable": {"retries": 1}},
        "backoff": {"base_s": 0, "max_s": 0},
        "breaker": {"failure_threshold": 10_000},  # every scenario reaches its upstream
        "server": {
            "keys": [{"key": "${LANEWAY_CLIENT_KEY}", "name": "ci"}],
            "admin_key": "${LANEWAY_ADMIN_KEY}",
        },
        "audit": {"url": f"sqlite:///{tmp_path / 'a.db'}", "store_content": False},
        "telemetry": {"metrics": True, "otel": False},  # spans: our own in-memory tracer
    }
    path = tmp_path / "laneway.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


# -- what was seen ----------------------------------------------------------------------


@dataclass
class Seen:
    """Every text a secret could travel in, by surface name."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, surface: str, *items: object) -> None:
        self.texts.setdefault(surface, []).extend(
            item if isinstance(item, str) else repr(item) for item in items
        )

    def error(self, surface: str, exc: BaseException) -> None:
        self.add(surface, str(exc), repr(exc))
        for name in ("trace", "attempts", "decision", "message", "hint", "body"):
            if hasattr(exc, name):
                self.add(surface, getattr(exc, name))
        for each in getattr(exc, "errors", ()):  # RoutingExhaustedError: one per attempt
            self.add(surface, str(each), repr(each))
        cause: BaseException | None = exc.__cause__ or exc.__context__
        if cause is not None and isinstance(exc, LanewayError):
            self.add(surface, str(cause), repr(cause))

    def leaks(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for surface, items in self.texts.items():
            for text in items:
                at = text.find(MARK)
                if at >= 0:
                    found[surface] = text[max(0, at - 120) : at + 60]
                    break
        return found


def record_events(seen: Seen, surface: str) -> Callable[[Event], None]:
    return lambda event: seen.add(surface, event)


# -- the library -------------------------------------------------------------------------


async def run_library(config: Path, upstream: Upstream, seen: Seen, tracer: Any) -> Metrics:
    transport = HttpxTransport(transport=httpx.MockTransport(upstream))
    gateway = Gateway.from_config(config, env=ENV, transport=transport, clock=upstream.clock)
    metrics = Metrics()
    gateway.subscribe(metrics)
    gateway.subscribe(record_events(seen, "library events"))
    if tracer is not None:
        gateway.subscribe(tracer)
    try:
        for mode in MODES:
            upstream.switch(mode)
            for lane in LANES:
                await _library_calls(gateway, lane, seen)
            await _adapter_calls(gateway, seen)
    finally:
        await gateway.aclose()
    return metrics


async def _library_calls(gateway: Gateway, lane: str, seen: Seen) -> None:
    request = CompletionRequest.from_prompt("say hello")
    ctx = TaskContext(lane=lane, user_id="user-1", job_id="job-1")
    try:
        seen.add("library completions", await gateway.complete(request, ctx))
    except LanewayError as exc:
        seen.error("library exceptions", exc)
    seen.add("library outcomes", await gateway.run(request, ctx))
    try:
        async for event in gateway.stream(request, ctx):
            seen.add("library stream", event)
            if isinstance(event, ErrorDelta):
                seen.error("library stream errors", event.error)
    except LanewayError as exc:
        seen.error("library stream errors", exc)


async def _adapter_calls(gateway: Gateway, seen: Seen) -> None:
    """Each adapter directly (public through `Gateway.adapter`): its errors, unwrapped."""
    request = CompletionRequest.from_prompt("say hello")
    for ref in {lane.primary for lane in gateway.config.lanes.values()}:
        adapter = gateway.adapter(ref.provider)
        try:
            seen.add("adapter completions", await adapter.complete(request, ref.model, timeout_s=5))
        except LanewayError as exc:
            seen.error("adapter errors", exc)
        try:
            async for delta in adapter.stream(request, ref.model, timeout_s=5):
                seen.add("adapter stream", delta)
                if isinstance(delta, ErrorDelta):
                    seen.error("adapter errors", delta.error)
        except LanewayError as exc:
            seen.error("adapter errors", exc)


# -- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    stop: Callable[[], None]


def start_server(config: Path, upstream: Upstream, seen: Seen, tracer: Any) -> Server:
    transport = HttpxTransport(transport=httpx.MockTransport(upstream))
    gateway = Gateway.from_config(config, env=ENV, transport=transport, clock=upstream.clock)
    gateway.subscribe(record_events(seen, "server events"))
    if tracer is not None:
        gateway.subscribe(tracer)
    app = create_app(gateway, env=ENV)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,  # records go to the root logger, where caplog listens
        log_level="debug",
        access_log=True,
        timeout_graceful_shutdown=2,
    )
    stop_serving = serve_in_thread(config, sock)

    def stop() -> None:
        stop_serving()
        sock.close()

    return Server(f"http://127.0.0.1:{port}", stop)


class Answer(Protocol):
    """An HTTP response of httpx or of the SDK's own HTTP client."""

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def _response(seen: Seen, surface: str, response: Answer) -> None:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    seen.add(surface, response.text, headers)


def run_server_scenarios(server: Server, upstream: Upstream, seen: Seen) -> None:
    sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=CLIENT_KEY, max_retries=0)
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    with sdk, httpx.Client(base_url=server.url, timeout=30) as raw:
        for mode in MODES:
            upstream.switch(mode)
            for lane in LANES:
                _sdk_calls(sdk, lane, seen)
                body = {"model": lane, "messages": HI}
                _response(
                    seen,
                    "http responses",
                    raw.post("/v1/chat/completions", json=body, headers=auth),
                )
                with raw.stream(
                    "POST", "/v1/chat/completions", json={**body, "stream": True}, headers=auth
                ) as streamed:
                    streamed.read()
                    _response(seen, "http stream responses", streamed)
        _guard_calls(raw, seen)


def _sdk_calls(sdk: openai.OpenAI, lane: str, seen: Seen) -> None:
    try:
        raw = sdk.chat.completions.with_raw_response.create(model=lane, messages=HI)
        seen.add("sdk responses", raw.text, dict(raw.headers), raw.parse().model_dump_json())
    except openai.APIStatusError as exc:
        seen.error("sdk errors", exc)
        _response(seen, "sdk error responses", exc.response)
    try:
        chunks = sdk.chat.completions.create(model=lane, messages=HI, stream=True)
        for chunk in chunks:
            seen.add("sdk stream chunks", chunk.model_dump_json())
    except openai.APIError as exc:
        seen.error("sdk stream errors", exc)


def _guard_calls(raw: httpx.Client, seen: Seen) -> None:
    """Wrong and missing client keys, admin endpoints, probes and /metrics."""
    body = {"model": "all", "messages": HI}
    for headers in ({"Authorization": f"Bearer {WRONG_KEY}"}, {"Authorization": WRONG_KEY}, {}):
        _response(
            seen,
            "http guard responses",
            raw.post("/v1/chat/completions", json=body, headers=headers),
        )
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for path in ("/admin/breakers", "/admin/budgets", "/admin/kill-switch"):
        _response(seen, "http admin responses", raw.get(path, headers=admin))
        _response(
            seen,
            "http admin responses",
            raw.get(path, headers={"Authorization": f"Bearer {CLIENT_KEY}"}),
        )
    for path in ("/v1/models", "/healthz", "/readyz"):
        _response(
            seen,
            "http probe responses",
            raw.get(path, headers={"Authorization": f"Bearer {CLIENT_KEY}"}),
        )
    metrics = raw.get("/metrics", headers=admin)
    _response(seen, "server /metrics", metrics)
    assert "laneway_requests" in metrics.text  # the engine's metrics are served


# -- the stores and the CLI -----------------------------------------------------------------


def scan_database_files(tmp_path: Path, seen: Seen) -> None:
    files = sorted(p for p in tmp_path.iterdir() if p.name.startswith("a.db"))
    assert files, "the audit database was not written"
    for path in files:
        seen.add(f"sqlite file {path.name}", path.read_bytes().decode("latin-1"))


async def read_audit(tmp_path: Path, seen: Seen) -> list[str]:
    """Every row and event through the query functions; the ids worth a `logs show`."""
    store = await open_for_reading(parse_store_url(f"sqlite:///{tmp_path / 'a.db'}"))
    try:
        rows = await store.select_requests(RequestFilter())
        events = await store.select_events()
    finally:
        await store.aclose()
    seen.add("audit rows", *rows)
    seen.add("audit events", *events)
    seen.add("audit summaries", *summarize(rows), routing_stats(rows, events))
    assert {row.error_code for row in rows} >= {"auth", "rate_limit", "invalid_response"}
    kinds = {(row.status, row.error_code, row.model): row.request_id for row in rows}
    return list(kinds.values())  # one of each kind of outcome


def run_cli(config: Path, tmp_path: Path, request_ids: list[str], seen: Seen) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'a.db'}"
    report = tmp_path / "report.html"
    commands = [
        ["logs", "--json", "--limit", "100000", "--url", url],
        ["logs", "--limit", "100000", "--url", url],
        ["stats", "--json", "--url", url],
        ["stats", "--routing", "--json", "--url", url],
        ["stats", "--routing", "--url", url],
        ["stats", "--html", str(report), "--url", url],
        ["check", "--config", str(config)],
        ["config", "show", "--config", str(config)],
    ]
    commands += [["logs", "show", rid, "--url", url] for rid in request_ids]
    commands += [["logs", "show", rid, "--json", "--url", url] for rid in request_ids]
    commands.append(["logs", "--json", "--config", str(config)])  # audit.url from the config
    for args in commands:
        result = runner.invoke(cli_app, args, env=ENV)
        assert result.exit_code == 0, (args, result.output)
        seen.add(f"cli {' '.join(args[:2])}", result.output)
    seen.add("cli stats --html", report.read_text(encoding="utf-8"))


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
def spans() -> Iterator[tuple[Any, Callable[[], list[str]]]]:
    """An OTel tracer over an in-memory exporter, when opentelemetry is installed."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    except ImportError:
        yield None, list
        return
    from laneway.telemetry.otel import OtelTracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OtelTracer(provider), lambda: [s.to_json() for s in exporter.get_finished_spans()]
    provider.shutdown()


@pytest.mark.slow
def test_no_secret_appears_in_any_store_log_response_or_output(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    spans: tuple[Any, Callable[[], list[str]]],
) -> None:
    for name in ("laneway", "uvicorn", "uvicorn.error", "uvicorn.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    tracer, finished_spans = spans
    config = write_config(tmp_path)
    upstream = Upstream()
    seen = Seen()

    metrics = asyncio.run(run_library(config, upstream, seen, tracer))
    seen.add("library metrics", metrics.render()[0].decode())
    server = start_server(config, upstream, seen, tracer)
    try:
        run_server_scenarios(server, upstream, seen)
        scan_database_files(tmp_path, seen)  # while open: the WAL still holds recent pages
    finally:
        server.stop()
    scan_database_files(tmp_path, seen)
    request_ids = asyncio.run(read_audit(tmp_path, seen))
    run_cli(config, tmp_path, request_ids, seen)
    scan_database_files(tmp_path, seen)  # again: the CLI's reads may have checkpointed the WAL
    records = [r for r in caplog.records if r.name.split(".")[0] in ("laneway", "uvicorn")]
    seen.add("logs", caplog.text, *(r.getMessage() for r in records))
    seen.add("otel spans", *finished_spans())

    # Every secret really went out (and the fakes echo back what they receive).
    assert upstream.auth_seen >= {
        ANTHROPIC_KEY,
        f"Bearer {ZAI_KEY}",
        GEMINI_KEY,
        f"Bearer {CMD_TOKEN}",
        CORP_HEADER,
    }
    assert any(r.name == "uvicorn.access" for r in records), "uvicorn's logs were not captured"
    assert tracer is None or seen.texts["otel spans"], "no span was recorded"
    leaks = seen.leaks()
    assert not leaks, "secret found in:\n" + "\n".join(
        f"- {k}: ...{v}..." for k, v in leaks.items()
    )
