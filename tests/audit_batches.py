"""A `WriteBatch` from `RequestRow`s, for store tests that compare what they read back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from laneway.audit._sql import pending_params, request_params
from laneway.audit.records import RequestRow
from laneway.audit.store import WriteBatch


def row_batch(
    *, pending: Iterable[RequestRow] = (), finals: Iterable[RequestRow] = (), **rest: Any
) -> WriteBatch:
    """`WriteBatch` holds rows as their INSERT's values; tests build and compare rows."""
    return WriteBatch(
        pending=[pending_params(row) for row in pending],
        finals=[request_params(row) for row in finals],
        **rest,
    )
