"""Test harness: a real laneway server on port 0 in a thread, the OpenAI SDK as its client.

`serve(config, ...)` builds a Gateway from a config mapping (the `fake`
provider by default), runs `create_app` under uvicorn (uvloop + laneway's httptools protocol, as
`laneway serve` does) on its own event loop and thread, and stops it after the
test. Every engine event is kept in `server.events`.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import openai
import uvicorn
from uvicorn_thread import serve_in_thread

from laneway.clock import Clock, FakeClock
from laneway.engine.gateway import Gateway
from laneway.events import Event
from laneway.providers.fake import FakeAdapter
from laneway.server.app import create_app
from laneway.server.protocol import HttpProtocol

#: no retry waits and no backoff, so scripted failures settle at once
FAST_RETRIES: dict[str, Any] = {
    "retry": {
        "rate_limit": {"retries": 0},
        "unavailable": {"retries": 0},
        "timeout": {"retries": 0},
    },
    "backoff": {"base_s": 0, "max_s": 0},
}


def fake_config(**extra: Any) -> dict[str, Any]:
    """Two fake models behind `coding`, one behind `chat`; extra keys merged on top."""
    config: dict[str, Any] = {
        "providers": {"fake": {"kind": "fake"}},
        "lanes": {
            "coding": {"primary": "fake/a", "fallback": ["fake/b"]},
            "chat": {"primary": "fake/c"},
        },
        "audit": {"enabled": False},
        **FAST_RETRIES,
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


@dataclass
class RunningServer:
    gateway: Gateway
    port: int
    events: list[Event] = field(default_factory=list)
    seen: threading.Condition = field(default_factory=threading.Condition)
    clients: list[openai.OpenAI] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def fake(self) -> FakeAdapter:
        return cast(FakeAdapter, self.gateway.adapter("fake"))

    def client(self, key: str = "no-key", **options: Any) -> openai.OpenAI:
        """A sync SDK client (no retries unless asked), closed when the server stops."""
        options.setdefault("max_retries", 0)
        client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, **options)
        self.clients.append(client)
        return client

    def async_client(self, key: str = "no-key") -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)

    def record(self, event: Event) -> None:
        with self.seen:
            self.events.append(event)
            self.seen.notify_all()

    def wait_for(self, predicate: Callable[[Event], bool], timeout_s: float = 5.0) -> Event:
        """The first event matching `predicate`, waiting for the server thread to emit it."""
        found: list[Event] = []

        def ready() -> bool:
            found[:] = [e for e in self.events if predicate(e)]
            return bool(found)

        with self.seen:
            if not self.seen.wait_for(ready, timeout=timeout_s):
                raise AssertionError(f"no matching event within {timeout_s} s: {self.events}")
        return found[0]


Serve = Callable[..., RunningServer]


def start_server(
    config: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> tuple[RunningServer, Callable[[], None]]:
    """A running server and the function that stops it."""
    gateway = Gateway.from_config(
        dict(config or fake_config()), env=dict(env or {}), clock=clock or FakeClock()
    )
    running = RunningServer(gateway=gateway, port=0)
    gateway.subscribe(running.record)
    app = create_app(gateway, env=dict(env or {}))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    running.port = sock.getsockname()[1]
    server_config = uvicorn.Config(
        app,
        loop="uvloop",
        http=HttpProtocol,
        lifespan="on",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    stop_serving = serve_in_thread(server_config, sock)

    def stop() -> None:
        for client in running.clients:
            client.close()
        stop_serving()
        sock.close()

    return running, stop
