"""The `prism` fixture: Stoplight Prism mock servers, one per spec file, for the session.

Prism (`.tools/node_modules/.bin/prism`, installed by `bash .ci/services.sh`)
answers 422 to any request its OpenAPI spec refuses, so a call that passes is
a spec-valid call. Missing Prism or spec: the test fails under CI=true and is
skipped elsewhere.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PRISM = REPO / ".tools" / "node_modules" / ".bin" / "prism"
IN_CI = os.environ.get("CI", "").lower() == "true"
START_TIMEOUT_S = 60.0


def _missing(what: str) -> None:
    message = f"{what} (bash .ci/services.sh installs Prism; tests/specs/ holds the specs)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _wait_until_up(proc: subprocess.Popen[bytes], url: str) -> None:
    """Any HTTP answer means Prism is listening; its exit or the deadline means it failed."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start within {START_TIMEOUT_S:g} s (run it by hand)")
            time.sleep(0.1)


def _start(spec: Path) -> tuple[subprocess.Popen[bytes], str]:
    if not spec.is_file():
        _missing(f"the Prism spec is missing at {spec}")
    if not os.access(PRISM, os.X_OK):
        _missing(f"Prism is not installed at {PRISM}")
    port = _free_port()
    proc = subprocess.Popen(
        [str(PRISM), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, url)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


@pytest.fixture(scope="session")
def prism() -> Iterator[Callable[[Path], str]]:
    """`prism(spec)`: the root URL (`http://127.0.0.1:<port>`) of a Prism mock of `spec`."""
    servers: dict[Path, tuple[subprocess.Popen[bytes], str]] = {}

    def url_for(spec: Path) -> str:
        if spec not in servers:
            servers[spec] = _start(spec)
        return servers[spec][1]

    yield url_for
    for proc, _ in servers.values():
        _stop(proc)
