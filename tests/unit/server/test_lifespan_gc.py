"""`laneway serve` owns its process and tunes the GC at start-up; an embedded app does not."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from laneway.engine.gateway import Gateway
from laneway.server.app import GC_YOUNG_THRESHOLD, create_app

CONFIG: dict[str, Any] = {
    "providers": {"fake": {"kind": "fake"}},
    "lanes": {"chat": {"primary": "fake/a"}},
    "audit": {"enabled": False},
}


@pytest.fixture
def gc_state() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def start(owns_process: bool) -> None:
    app = create_app(Gateway.from_config(CONFIG, env={}), env={}, owns_process=owns_process)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


@pytest.mark.usefixtures("gc_state")
async def test_serve_freezes_start_up_objects_and_collects_young_objects_less_often() -> None:
    gc.unfreeze()
    await start(owns_process=True)
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 1000


@pytest.mark.usefixtures("gc_state")
async def test_an_app_embedded_in_someone_elses_process_leaves_the_gc_alone() -> None:
    gc.unfreeze()
    before = gc.get_threshold()
    await start(owns_process=False)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
