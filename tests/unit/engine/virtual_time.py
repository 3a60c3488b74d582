"""Run a coroutine on virtual time: the loop's clock jumps ahead whenever every task waits.

`asyncio.timeout` reads the loop's clock, not laneway's `Clock`, so deadline tests
need the loop itself on fake time. `looptime` provides such a loop; its pytest
plugin is disabled in pyproject.toml (it opens an event loop for every test and
leaves some unclosed), so tests create the loop here and close it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import looptime

T = TypeVar("T")


def run_on_virtual_time(main: Coroutine[Any, Any, T]) -> T:
    loop = looptime.new_event_loop(start=0.0)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
