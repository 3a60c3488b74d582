"""The `serve` fixture: start laneway servers for a test, stop them after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from server_harness import Serve, start_server


@pytest.fixture
def serve() -> Iterator[Serve]:
    stops = []

    def start(*args: Any, **kwargs: Any) -> Any:
        running, stop = start_server(*args, **kwargs)
        stops.append(stop)
        return running

    yield start
    for stop in stops:
        stop()
