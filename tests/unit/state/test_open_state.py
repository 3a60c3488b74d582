"""Choosing a state backend by URL, and Redis failures surfacing as StateError."""

from __future__ import annotations

import socket

import pytest

from laneway.errors import ConfigError
from laneway.state import StateError, open_state
from laneway.state.base import BreakerParams
from laneway.state.memory import MemoryStateStore


def test_memory_url_gives_the_memory_store() -> None:
    assert isinstance(open_state("memory://"), MemoryStateStore)


@pytest.mark.parametrize("url", ["postgres://db/x", "mem://", "localhost:6379"])
def test_unknown_schemes_name_the_key_and_the_choices(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_state(url)
    text = str(caught.value)
    assert "state.url" in text
    assert "memory://" in text
    assert "redis://" in text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_redis_raises_state_error_without_the_password() -> None:
    store = open_state(f"redis://:s3cret@127.0.0.1:{_closed_port()}/0", prefix="t:")
    try:
        with pytest.raises(StateError) as caught:
            await store.breakers.apply("p/m", "admit", 0.0, BreakerParams())
        assert "state.url" in str(caught.value)
        assert "s3cret" not in str(caught.value)
    finally:
        await store.aclose()


def test_importing_laneway_state_does_not_import_redis() -> None:
    import subprocess
    import sys

    code = "import sys, laneway.state; sys.exit('redis' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
