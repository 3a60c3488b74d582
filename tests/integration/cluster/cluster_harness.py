"""Three real `laneway serve` processes on one private Redis and the test PostgreSQL.

- `PrivateRedis`: a `redis-server` child of the test on a free port, so the test
  may SIGSTOP it without touching the machine's shared Redis.
- `Upstream`: a fake OpenAI-compatible upstream in a thread. Its answers are
  the `POST /chat/completions` "Default" response example of the OpenAI
  OpenAPI spec (tests/fixtures/openai/chat_completion.json, see its README;
  https://platform.openai.com/docs/api-reference/chat/object), with the model
  and usage each scripted model reports; its errors are OpenAI's error body.
- `Replica`: one `laneway serve --port 0` child; its port is read from
  uvicorn's "Uvicorn running on" line in its log file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LANEWAY = Path(sys.executable).with_name("laneway")
ANSWER = Path(__file__).parents[2] / "fixtures" / "openai" / "chat_completion.json"
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+) ")
#: tokens each scripted model reports: `big` reports far more than any estimate of "hi"
USAGE = {"ok": (10, 5), "slow": (10, 5), "big": (1000, 1000)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def wait_until(check: Any, timeout_s: float, what: str) -> None:
    """Poll `check` on a condition variable's timed waits (no sleep) until it holds."""
    waiter = threading.Event()
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        waiter.wait(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(workdir)]
        self.proc = subprocess.Popen(
            ["redis-server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, 10, "redis-server answers PING")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(10)


class Upstream:
    """Answers by the request's `model`; `slow` waits for `release`; `down` is a 503."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        self.held = 0
        self._lock = threading.Lock()
        template = json.loads(ANSWER.read_text())
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                model = str(body.get("model"))
                with upstream._lock:
                    upstream.hits[model] += 1
                if model == "down":
                    error = {"message": "overloaded", "type": "server_error", "code": None}
                    self._send(503, {"error": error})
                    return
                if model == "slow":
                    with upstream._lock:
                        upstream.held += 1
                    upstream.release.wait(30)
                prompt, completion = USAGE[model]
                usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                }
                self._send(200, {**template, "model": model, "usage": usage})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Replica:
    def __init__(self, config: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWAY_")}
        env["NO_COLOR"] = "1"
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [str(LANEWAY), "serve", "--config", str(config), "--port", "0"],
                cwd=config.parent,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.port = 0

    def wait_listening(self, timeout_s: float = 45.0) -> None:
        def listening() -> bool:
            found = LISTENING.search(self.log.read_text())
            if found:
                self.port = int(found.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"a replica exited:\n{self.log.read_text()}")
            return found is not None

        wait_until(listening, timeout_s, f"a replica listens ({self.log})")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self) -> None:
        """SIGTERM: uvicorn drains, then the lifespan closes the gateway and its audit log."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
