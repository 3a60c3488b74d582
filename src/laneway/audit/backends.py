"""Which `AuditStore` serves a location: the one module that knows every backend.

Kept apart from the protocol (`store.py`) so that a backend, and everything
the backends share, imports the seam without importing its siblings.
"""

from __future__ import annotations

from laneway.audit.store import AuditStore
from laneway.clock import Clock
from laneway.config.store_urls import StoreLocation
from laneway.errors import AuditError


def build_store(location: StoreLocation, *, clock: Clock | None = None) -> AuditStore:
    """The store for a location; the PostgreSQL one imports asyncpg only when used."""
    if location.kind == "sqlite":
        from laneway.audit.sqlite import SqliteStore

        assert location.path is not None
        return SqliteStore(location.path, clock=clock)
    from laneway.audit.postgres import PostgresStore

    assert location.url is not None
    return PostgresStore(location.url, schema=location.schema, clock=clock)


async def open_for_reading(location: StoreLocation) -> AuditStore:
    """Open an existing store for the CLI; a missing SQLite file is an error, not a new file."""
    if location.kind == "sqlite" and location.path is not None and not location.path.is_file():
        raise AuditError(
            f"no audit log at {location.path} yet; it is created by the first request "
            "(or point --url / --config at the right store)"
        )
    store = build_store(location)
    await store.open()
    return store
