"""Budgets: bound a request's worst case, then reserve, commit or refund it atomically."""

from laneway.budgets.bound import Bound, actual_cost_usd, bound, input_bound, output_bound
from laneway.budgets.ledger import (
    BudgetLedger,
    BudgetScope,
    Remaining,
    Reservation,
    key_scope,
    lane_scopes,
)

__all__ = [
    "Bound",
    "BudgetLedger",
    "BudgetScope",
    "Remaining",
    "Reservation",
    "actual_cost_usd",
    "bound",
    "input_bound",
    "key_scope",
    "lane_scopes",
    "output_bound",
]
