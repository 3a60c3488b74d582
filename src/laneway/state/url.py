"""Choose a state backend by URL scheme, as `state.url` in laneway.yaml says."""

from __future__ import annotations

from urllib.parse import urlsplit

from laneway.errors import ConfigError
from laneway.state.base import StateStore

MEMORY_SCHEMES = frozenset({"memory"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def open_state(url: str, *, prefix: str | None = None) -> StateStore:
    """Build the store for `url` (`memory://`, `redis://host:6379/0`, `rediss://…`, `unix://…`).

    Nothing connects here; the first operation does (call `ping()` on a Redis
    store to fail early). `prefix` namespaces Redis keys, so several gateways
    or test runs can share one database.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in MEMORY_SCHEMES:
        from laneway.state.memory import MemoryStateStore

        return MemoryStateStore(url)
    if scheme in REDIS_SCHEMES:
        from laneway.state.redis import DEFAULT_PREFIX, RedisStateStore

        return RedisStateStore(url, prefix=DEFAULT_PREFIX if prefix is None else prefix)
    known = ", ".join(f"{s}://" for s in sorted(MEMORY_SCHEMES | REDIS_SCHEMES))
    raise ConfigError(
        f"unknown state store scheme {scheme + '://' if scheme else repr(url)}",
        path="state.url",
        hint=f"use one of {known}, e.g. `state: {{url: memory://}}` or `redis://localhost:6379/0`",
    )
