"""The one place that starts background tasks, so none is lost or left running.

Deadlines are `asyncio.timeout` / `asyncio.timeout_at`: they tell a
cancellation from outside from their own expiry, even when both land in the
same pass of the loop (tests/unit/engine/test_deadlines.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class TaskSupervisor:
    """Keeps a strong reference to each task until it ends; `aclose` cancels the rest."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(
        self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
