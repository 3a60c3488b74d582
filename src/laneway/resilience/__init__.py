"""Resilience policies: retry decisions, backoff, deadlines and circuit breakers.

Retry, backoff and deadline are pure values and functions over `now`; the
breakers keep their state in the state store and so are async.
"""

from laneway.resilience.backoff import BackoffPolicy
from laneway.resilience.breaker import Admission, Breakers, Transition
from laneway.resilience.deadline import Deadline
from laneway.resilience.retry import RetryAction, RetryDecision, decide_after_failure, rule_for

__all__ = [
    "Admission",
    "BackoffPolicy",
    "Breakers",
    "Deadline",
    "RetryAction",
    "RetryDecision",
    "Transition",
    "decide_after_failure",
    "rule_for",
]
