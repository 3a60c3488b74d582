"""The `prism` fixture: Stoplight Prism mock servers, one per spec file, for the session.

Prism (`.tools/node_modules/.bin/prism`, installed by `bash .ci/services.sh`)
answers 422 to any request its OpenAPI spec refuses, so a call that passes is
a spec-valid call. Missing Prism or spec: the test fails under CI=true and is
skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRISM = REPO / ".tools" / "node_modules" / ".bin" / "prism"
IN_CI = os.environ.get("CI", "").lower() == "true"
START_TIMEOUT_S = 60.0
_LISTENING = re.compile(r"Prism is listening on (http://\S+)")


def _missing(what: str) -> None:
    message = f"{what} (bash .ci/services.sh installs Prism; tests/specs/ holds the specs)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _drain(proc: subprocess.Popen[str], url: list[str], listening: threading.Event) -> None:
    """Read Prism's log to its end (a full pipe would stall it); note where it listens."""
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            if not listening.is_set() and (found := _LISTENING.search(line)):
                url.append(found.group(1))
                listening.set()
    listening.set()  # Prism exited: no need to wait any longer


def _start(spec: Path) -> tuple[subprocess.Popen[str], threading.Thread, str]:
    """Prism on a port it picks (`-p 0`), ready once it says where it listens: no polling."""
    if not spec.is_file():
        _missing(f"the Prism spec is missing at {spec}")
    if not os.access(PRISM, os.X_OK):
        _missing(f"Prism is not installed at {PRISM}")
    proc = subprocess.Popen(
        [str(PRISM), "mock", str(spec), "-h", "127.0.0.1", "-p", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url: list[str] = []
    listening = threading.Event()
    reader = threading.Thread(target=_drain, args=(proc, url, listening), daemon=True)
    reader.start()
    # a bound for a Prism that hangs, not a timing the test depends on
    if not listening.wait(START_TIMEOUT_S) or not url:
        _stop(proc, reader)
        pytest.fail(f"Prism did not start within {START_TIMEOUT_S:g} s (run it by hand)")
    return proc, reader, url[0]


def _stop(proc: subprocess.Popen[str], reader: threading.Thread) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)
    reader.join(10)  # it closes Prism's output at its end


@pytest.fixture(scope="session")
def prism() -> Iterator[Callable[[Path], str]]:
    """`prism(spec)`: the root URL (`http://127.0.0.1:<port>`) of a Prism mock of `spec`."""
    servers: dict[Path, tuple[subprocess.Popen[str], threading.Thread, str]] = {}

    def url_for(spec: Path) -> str:
        if spec not in servers:
            servers[spec] = _start(spec)
        return servers[spec][2]

    yield url_for
    for proc, reader, _ in servers.values():
        _stop(proc, reader)
