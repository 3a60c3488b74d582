"""Shared state behind small atomic protocols: in memory by default, Redis for many replicas.

Importing this package stays cheap: the Redis backend (and `redis` itself) is
imported only when `open_state` is given a Redis URL.
"""

from laneway.state.base import (
    BreakerOutcome,
    BreakerParams,
    BreakerStore,
    BudgetStore,
    DecisionCache,
    KeyLimitStore,
    Refusal,
    ScopeLimit,
    ScopeUsage,
    StateError,
    StateStore,
)
from laneway.state.url import open_configured_state, open_state

__all__ = [
    "BreakerOutcome",
    "BreakerParams",
    "BreakerStore",
    "BudgetStore",
    "DecisionCache",
    "KeyLimitStore",
    "Refusal",
    "ScopeLimit",
    "ScopeUsage",
    "StateError",
    "StateStore",
    "open_configured_state",
    "open_state",
]
