"""The real `laneway serve` command as a child process: shutdown, workers, the open-server bind.

Each test starts the console script (`laneway = "laneway.cli.main:main"`) next to this
interpreter on port 0 and reads the bound port from uvicorn's "Uvicorn running on" line,
so no port is guessed. The children run in their own process group, killed at teardown
if a test left them running.

Not here: `--host 0.0.0.0` without keys refusing to start is
tests/unit/server/test_serve_command.py::test_the_command_refuses_an_open_public_bind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from server_harness import fake_config

from laneway.audit.sqlite import SqliteStore
from laneway.audit.store import RequestFilter

LANEWAY = Path(sys.executable).with_name("laneway")
FIXTURES = Path(__file__).parents[2] / "fixtures" / "openai"
HI = [{"role": "user", "content": "hi"}]
START_TIMEOUT_S = 30.0  # a cold interpreter importing laneway, on a loaded machine
LISTENING = re.compile(r"Uvicorn running on http://(\S+):(\d+) ")


class ServeProcess:
    """One `laneway serve` child; its combined stdout and stderr are read by a thread."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWAY_")}
        env.pop("FORCE_COLOR", None)
        env["NO_COLOR"] = "1"
        self.proc = subprocess.Popen(
            [str(LANEWAY), "serve", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.host, self.port = "", 0

    def wait_listening(self) -> None:
        listening = self.wait_for(LISTENING)
        self.host, self.port = listening.group(1), int(listening.group(2))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(
        self, pattern: re.Pattern[str], timeout_s: float = START_TIMEOUT_S, *, count: int = 1
    ) -> re.Match[str]:
        """The first line matching `pattern`, once `count` lines have (the timeout bounds a
        child that hangs; the test waits on its output, not on time)."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for line in self._lines if (m := pattern.search(line))]
            return len(found) >= count or self._ended

        with self._changed:
            self._changed.wait_for(seen, timeout=timeout_s)
        if len(found) < count:
            raise AssertionError(
                f"not {count} of {pattern.pattern!r} within {timeout_s} s:\n{self.output}"
            )
        return found[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate_and_wait(self, timeout_s: float = 15.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill_group(self) -> None:
        """Teardown: whatever of this child's process group still runs (workers included)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._reader.join(10)  # the pipe's EOF ends it once the whole group is gone
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def laneway_serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """`laneway_serve(config, *args)`: serve `config` on port 0.

    The file is not the working directory's ./laneway.yaml, so a process that ignored
    `--config` would find no config of ours (and serve the built-in default)."""
    if not LANEWAY.is_file():
        pytest.skip(f"no laneway console script at {LANEWAY} (pip install -e .)")
    started: list[ServeProcess] = []

    def start(config: dict[str, Any], *args: str) -> ServeProcess:
        path = tmp_path / "conf" / "served.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(config))  # JSON is YAML
        child = ServeProcess(["--config", str(path), "--port", "0", *args], tmp_path)
        started.append(child)  # before waiting: a child that never listens is killed too
        child.wait_listening()
        return child

    yield start
    for child in started:
        child.kill_group()


class HeldUpstream(ThreadingHTTPServer):
    """An OpenAI-wire upstream that answers only once the test sets `release`.

    The answer is the spec's documented `POST /chat/completions` example
    (tests/fixtures/openai/chat_completion.json). `arrived` is set when a request
    is in; holding it on an event, not a sleep, makes "in flight" exact.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HeldHandler)
        self.arrived = threading.Event()
        self.release = threading.Event()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _HeldHandler(BaseHTTPRequestHandler):
    server: HeldUpstream

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.arrived.set()
        self.server.release.wait(10)
        body = (FIXTURES / "chat_completion.json").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[HeldUpstream]:
    server = HeldUpstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def remote_lane(upstream: HeldUpstream, **extra: Any) -> dict[str, Any]:
    """A config whose lane `remote` is served by `upstream` as `up/gpt-4o`."""
    provider = {
        "kind": "openai_compatible",
        "base_url": f"http://127.0.0.1:{upstream.port}/v1",
        "api_key": "sk-up",
    }
    return fake_config(
        providers={"up": provider}, lanes={"remote": {"primary": "up/gpt-4o"}}, **extra
    )


def refused(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


#: uvicorn's log once it has closed its listening socket and waits for open connections
DRAINING = re.compile(r"Waiting for connections to close")
#: a worker's log once its gateway is built; the parent's socket queues connections until then
WORKER_READY = re.compile(r"Application startup complete")


def audit_row(db: Path, request_id: str) -> Any:
    async def read() -> Any:
        store = SqliteStore(db)
        await store.open()
        try:
            (row,) = await store.select_requests(RequestFilter(request_id=request_id))
        finally:
            await store.aclose()
        return row

    return asyncio.run(read())


def test_sigterm_drains_the_request_in_flight_then_stops(
    laneway_serve: Callable[..., ServeProcess], upstream: HeldUpstream, tmp_path: Path
) -> None:
    """docs/server.md: on SIGTERM the server stops accepting, lets in-flight requests finish
    (up to --graceful-timeout), then closes the gateway. So: a request whose upstream has
    not answered when SIGTERM arrives still gets its whole 200, new connections are refused
    meanwhile, and the process ends once it is answered, having closed its audit store
    (nothing left to recover) with the request's row `success`."""
    db = tmp_path / "audit.db"
    config = remote_lane(upstream, audit={"enabled": True, "url": f"sqlite:///{db}"})
    server = laneway_serve(config, "--graceful-timeout", "10")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=10)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(
            client.chat.completions.with_raw_response.create, model="remote", messages=HI
        )
        assert upstream.arrived.wait(10), server.output
        server.proc.send_signal(signal.SIGTERM)
        # logged once the listening socket is closed and --graceful-timeout counts
        server.wait_for(DRAINING, 10)
        assert refused(server.port), "still accepting after SIGTERM"
        assert server.proc.poll() is None  # draining, not gone
        assert not call.done()
        upstream.release.set()
        raw = call.result(timeout=10)
    client.close()
    assert raw.status_code == 200
    assert raw.parse().choices[0].message.content == "Hello! How can I assist you today?"
    returncode = server.proc.wait(10)
    # uvicorn >= 0.29 re-raises the signal it handled once shut down (Server.capture_signals,
    # encode/uvicorn#1600), so even a clean SIGTERM exit reports SIGTERM (shell status 143)
    assert returncode == -signal.SIGTERM, server.output
    assert "Application shutdown complete." in server.output
    assert "Traceback" not in server.output
    # closing the gateway closed the audit store: its intent journal (`<db>.intents-<pid>`)
    # is removed on close and SQLite removes the WAL with the last connection
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("audit")) == ["audit.db"]
    assert audit_row(db, raw.headers["x-request-id"]).status == "success"


def test_a_request_cut_by_the_graceful_timeout_is_a_503_the_sdk_understands(
    laneway_serve: Callable[..., ServeProcess], upstream: HeldUpstream
) -> None:
    """Past --graceful-timeout uvicorn cancels what is still running; its own answer would be
    a plain-text 500. laneway answers OpenAI's error body with 503 `shutting_down`, which
    the SDKs retry (elsewhere: another replica, or this one restarted)."""
    config = remote_lane(upstream)
    server = laneway_serve(config, "--graceful-timeout", "0.3")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=10)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(client.chat.completions.create, model="remote", messages=HI)
        assert upstream.arrived.wait(10), server.output
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(openai.InternalServerError) as info:
            call.result(timeout=10)
    client.close()
    assert info.value.status_code == 503
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == "shutting_down"
    assert server.proc.wait(10) == -signal.SIGTERM, server.output


def worker_pids(parent: int) -> set[int]:
    """uvicorn's worker processes: children of `parent` started by multiprocessing's spawn."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            pids.add(int(entry.name))
    return pids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_two_workers_serve_the_given_config_and_stop_cleanly(
    laneway_serve: Callable[..., ServeProcess],
) -> None:
    """`--workers 2` runs two worker processes, and each builds its gateway from the
    `--config` file (handed over in LANEWAY_CONFIG): the lane `only-here` exists in no
    other config, and the fake provider echoes each message back. SIGTERM to the parent
    stops the workers and the parent exits 0 (uvicorn's supervisor handles the signal)."""
    config = fake_config(lanes={"only-here": {"primary": "fake/x"}})
    server = laneway_serve(config, "--workers", "2")
    server.wait_for(WORKER_READY, count=2)
    workers = worker_pids(server.proc.pid)
    assert len(workers) == 2, server.output
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client:
        for n in range(6):
            completion = client.chat.completions.create(
                model="only-here", messages=[{"role": "user", "content": f"ping {n}"}]
            )
            assert completion.choices[0].message.content == f"ping {n}"
    assert server.terminate_and_wait() == 0, server.output
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert "Traceback" not in server.output


def other_loopback_is_local() -> bool:
    """Whether 127.0.0.2 is an address of this machine (Linux: all of 127.0.0.0/8 is)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.2", 0))
        except OSError:
            return False
    return True


def test_without_keys_it_says_so_and_binds_to_127_0_0_1_only(
    laneway_serve: Callable[..., ServeProcess],
) -> None:
    """An open server (no client keys) must not be reachable from elsewhere: the start-up
    output says so, and where another loopback address is local (Linux: all of
    127.0.0.0/8), it is refused while 127.0.0.1 answers (a 0.0.0.0 bind would accept both)."""
    server = laneway_serve(fake_config())
    assert server.host == "127.0.0.1"
    said = " ".join(server.output.split())  # rich wraps at the terminal width
    assert "no client keys configured (server.keys): serving without auth on 127.0.0.1 only" in (
        said
    )
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    if other_loopback_is_local():
        assert refused(server.port, "127.0.0.2")
    assert server.terminate_and_wait() == -signal.SIGTERM
