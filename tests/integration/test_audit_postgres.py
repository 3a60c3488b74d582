"""PostgreSQL-only behaviour of the audit store: a lost connection is made again."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from audit_batches import row_batch
from laneway.audit.postgres import PostgresStore
from laneway.audit.records import RequestRow
from laneway.audit.store import RequestFilter
from laneway.errors import AuditError


@pytest.mark.postgres
async def test_store_reconnects_after_the_server_drops_its_connection(postgres_url: str) -> None:
    schema = f"laneway_audit_test_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(postgres_url, schema=schema)
    admin = await asyncpg.connect(postgres_url)
    try:
        await store.open()
        await store.write(row_batch(pending=[RequestRow("a", 1.0, "pending", "coding")]))
        pid = await admin.fetchval(  # the store names its session after its schema
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            f"laneway-audit:{schema}",
        )
        assert pid is not None
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(AuditError):
            await store.write(row_batch(pending=[RequestRow("b", 2.0, "pending", "coding")]))
        await store.write(row_batch(pending=[RequestRow("c", 3.0, "pending", "coding")]))
        rows = await store.select_requests(RequestFilter())
        assert [r.request_id for r in rows] == ["a", "c"]
    finally:
        await store.aclose()
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()
