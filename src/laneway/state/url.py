"""Choose a state backend by URL scheme, as `state.url` in laneway.yaml says."""

from __future__ import annotations

from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.config.store_urls import MEMORY_SCHEMES, REDIS_SCHEMES, state_scheme
from laneway.state.base import StateStore

if TYPE_CHECKING:
    from laneway.config.schema import StateSpec


def open_state(
    url: str,
    *,
    prefix: str | None = None,
    connect_timeout_s: float | None = None,
    command_timeout_s: float | None = None,
) -> StateStore:
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
    return RedisStateStore(
        url,
        prefix=DEFAULT_PREFIX if prefix is None else prefix,
        connect_timeout_s=connect_timeout_s,
        command_timeout_s=command_timeout_s,
    )


def open_configured_state(
    spec: StateSpec, *, clock: Clock, prefix: str | None = None
) -> StateStore:
    """The store `state:` asks for: a shared one with its timeouts, behind the fail policy
    (`guarded.py`); the memory store as it is (it cannot fail)."""
    store = open_state(
        spec.url,
        prefix=prefix,
        connect_timeout_s=spec.connect_timeout_s,
        command_timeout_s=spec.command_timeout_s,
    )
    if state_scheme(spec.url) in MEMORY_SCHEMES:
        return store
    from laneway.state.guarded import GuardedStateStore, StoreHealth

    policy = spec.on_state_error
    return GuardedStateStore(
        store,
        health=StoreHealth(clock, retry_after_s=spec.retry_after_s),
        limits=policy.limits,
        breakers=policy.breakers,
        budgets=policy.budgets,
    )
