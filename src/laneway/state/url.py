"""Choose a state backend by URL scheme, as `state.url` in laneway.yaml says."""

from __future__ import annotations

from laneway.config.store_urls import MEMORY_SCHEMES, REDIS_SCHEMES, state_scheme
from laneway.state.base import StateStore


def open_state(url: str, *, prefix: str | None = None) -> StateStore:
    """Build the store for `url` (`memory://`, `redis://host:6379/0`, `rediss://…`, `unix://…`).

    Nothing connects here; the first operation does (call `ping()` on a Redis
    store to fail early). `prefix` namespaces Redis keys, so several gateways
    or test runs can share one database.
    """
    scheme = state_scheme(url)  # a ConfigError for a scheme no backend serves
    if scheme in MEMORY_SCHEMES:
        from laneway.state.memory import MemoryStateStore

        return MemoryStateStore(url)
    from laneway.state.redis import DEFAULT_PREFIX, RedisStateStore

    assert scheme in REDIS_SCHEMES
    return RedisStateStore(url, prefix=DEFAULT_PREFIX if prefix is None else prefix)
