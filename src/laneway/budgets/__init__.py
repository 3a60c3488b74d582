"""Budgets: estimate a request's cost, then reserve, commit or refund it atomically."""

from laneway.budgets.estimate import (
    DEFAULT_OUTPUT_TOKENS,
    Estimate,
    actual_cost_usd,
    estimate_request,
)
from laneway.budgets.ledger import (
    BudgetLedger,
    BudgetScope,
    Remaining,
    Reservation,
    key_scope,
    lane_scopes,
)

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "BudgetLedger",
    "BudgetScope",
    "Estimate",
    "Remaining",
    "Reservation",
    "actual_cost_usd",
    "estimate_request",
    "key_scope",
    "lane_scopes",
]
