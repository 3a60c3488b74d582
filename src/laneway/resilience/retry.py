"""What to do after one failed attempt: retry the same model, or move on and how.

The retry table (config, defaults in `errors.DEFAULT_RETRY_TABLE`) says per
`ErrorCode` how many times the same model is retried and what comes after.
This module applies it; it is pure and deterministic (the only randomness is
the backoff's injected jitter source), so the same failures always lead to
the same next step.

Retry-After, when the rule honours it, raises the wait to at least what the
provider asked for; but a wait that would reach the total deadline is not
worth making, so the decision moves on instead of sleeping past the end.
The `retryable` flag on the error is not consulted: the table is the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from laneway.errors import DEFAULT_RETRY_TABLE, ErrorCode, ProviderError, RetryRule, Then
from laneway.resilience.backoff import BackoffPolicy

RetryAction = Literal["retry_same"] | Then


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """`action`, the wait before a same-model retry, and a short reason for the trace."""

    action: RetryAction
    delay_s: float = 0.0
    reason: str = ""

    @property
    def retry(self) -> bool:
        return self.action == "retry_same"

    @property
    def then(self) -> Then | None:
        """How to move on, or None when the decision is to retry the same model."""
        return None if self.action == "retry_same" else self.action

    @classmethod
    def retry_same(cls, delay_s: float, reason: str = "") -> RetryDecision:
        return cls("retry_same", delay_s, reason)

    @classmethod
    def move_on(cls, then: Then, reason: str = "") -> RetryDecision:
        return cls(then, 0.0, reason)


def rule_for(code: ErrorCode, table: Mapping[ErrorCode, RetryRule]) -> RetryRule:
    """The table's rule, else the built-in default, else "no retry, next model"."""
    return table.get(code) or DEFAULT_RETRY_TABLE.get(code) or RetryRule()


def decide_after_failure(
    error: ProviderError,
    *,
    attempt: int,
    table: Mapping[ErrorCode, RetryRule],
    remaining_s: float,
    backoff: BackoffPolicy,
) -> RetryDecision:
    """Decide after attempt number `attempt` (1-based, on this model) failed with `error`.

    `remaining_s` is what is left of the lane's total deadline.
    """
    rule = rule_for(error.code, table)
    if attempt > rule.retries:
        return RetryDecision.move_on(rule.then, f"{error.code.value}: no retry left")
    if remaining_s <= 0:
        return RetryDecision.move_on(rule.then, "deadline reached")
    delay_s = backoff.delay_s(attempt) if rule.backoff else 0.0
    asked_s = error.retry_after_s if rule.honour_retry_after else None
    if asked_s is not None and asked_s > delay_s:
        delay_s = asked_s
    if delay_s >= remaining_s:
        why = "retry-after" if asked_s is not None and delay_s == asked_s else "backoff"
        return RetryDecision.move_on(
            rule.then, f"{why} wait {delay_s:.2f}s passes the deadline ({remaining_s:.2f}s left)"
        )
    return RetryDecision.retry_same(delay_s, f"{error.code.value}: retry {attempt}/{rule.retries}")
