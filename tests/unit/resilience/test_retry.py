"""Retry decisions over the default retry table (ARCHITECTURE.md "Error model")."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.errors import DEFAULT_RETRY_TABLE, ErrorCode, ProviderError, RetryRule
from laneway.resilience.backoff import BackoffPolicy
from laneway.resilience.retry import RetryAction, RetryDecision, decide_after_failure

BACKOFF = BackoffPolicy(base_s=0.5, multiplier=2.0, max_s=8.0)

# (retries on the same model, what comes after) as the architecture's table states it.
EXPECTED: dict[ErrorCode, tuple[int, RetryAction]] = {
    ErrorCode.RATE_LIMIT: (2, "next_model"),
    ErrorCode.TIMEOUT: (1, "next_model"),
    ErrorCode.UNAVAILABLE: (2, "next_model"),
    ErrorCode.NETWORK: (0, "next_model"),
    ErrorCode.AUTH: (0, "skip_provider"),
    ErrorCode.NOT_CONFIGURED: (0, "skip_provider"),
    ErrorCode.INVALID_RESPONSE: (0, "next_model"),
    ErrorCode.CONTEXT_LENGTH: (0, "larger_context"),
    ErrorCode.CONTENT_FILTER: (0, "next_model"),
    ErrorCode.BAD_REQUEST: (0, "stop"),
    ErrorCode.BUDGET_EXCEEDED: (0, "stop"),
    ErrorCode.CIRCUIT_OPEN: (0, "next_model"),
    ErrorCode.PII_LEAK: (0, "next_model"),
    ErrorCode.UNKNOWN: (0, "next_model"),
    ErrorCode.POLICY_DENIED: (0, "stop"),
}


def failure(code: ErrorCode, retry_after_s: float | None = None) -> ProviderError:
    return ProviderError(
        "scripted", provider="p", model="m", code=code, retry_after_s=retry_after_s
    )


def decide(
    code: ErrorCode,
    attempt: int,
    *,
    remaining_s: float = 100.0,
    retry_after_s: float | None = None,
    table: dict[ErrorCode, RetryRule] | None = None,
) -> RetryDecision:
    return decide_after_failure(
        failure(code, retry_after_s),
        attempt=attempt,
        table=DEFAULT_RETRY_TABLE if table is None else table,
        remaining_s=remaining_s,
        backoff=BACKOFF,
    )


def test_every_error_code_has_an_expectation() -> None:
    assert set(EXPECTED) == set(ErrorCode)


@pytest.mark.parametrize("code", list(ErrorCode))
def test_default_table_retries_then_moves_on(code: ErrorCode) -> None:
    retries, then = EXPECTED[code]
    delays = []
    for attempt in range(1, retries + 1):
        decision = decide(code, attempt)
        assert decision.action == "retry_same", (code, attempt)
        assert decision.then is None
        delays.append(decision.delay_s)
    assert delays == [0.5, 1.0][:retries]
    final = decide(code, retries + 1)
    assert final.action == then
    assert final.then == then
    assert final.delay_s == 0.0


def test_retry_after_longer_than_backoff_is_honoured() -> None:
    decision = decide(ErrorCode.RATE_LIMIT, 1, retry_after_s=5.0)
    assert decision.retry
    assert decision.delay_s == 5.0


def test_retry_after_shorter_than_backoff_keeps_the_backoff() -> None:
    assert decide(ErrorCode.RATE_LIMIT, 2, retry_after_s=0.1).delay_s == 1.0


def test_retry_after_past_the_deadline_moves_on_instead_of_waiting() -> None:
    decision = decide(ErrorCode.RATE_LIMIT, 1, retry_after_s=30.0, remaining_s=10.0)
    assert decision.action == "next_model"
    assert "deadline" in decision.reason


def test_backoff_past_the_deadline_moves_on() -> None:
    assert decide(ErrorCode.UNAVAILABLE, 2, remaining_s=0.9).action == "next_model"


def test_no_retry_once_the_deadline_is_spent() -> None:
    assert decide(ErrorCode.TIMEOUT, 1, remaining_s=0.0).action == "next_model"


def test_a_rule_may_ignore_retry_after_and_skip_backoff() -> None:
    table = {ErrorCode.RATE_LIMIT: RetryRule(retries=1, backoff=False, honour_retry_after=False)}
    decision = decide(ErrorCode.RATE_LIMIT, 1, retry_after_s=60.0, table=table, remaining_s=5.0)
    assert decision.retry
    assert decision.delay_s == 0.0


def test_config_can_make_bad_request_move_on() -> None:
    table = {ErrorCode.BAD_REQUEST: RetryRule(then="next_model")}
    assert decide(ErrorCode.BAD_REQUEST, 1, table=table).action == "next_model"


def test_codes_missing_from_a_partial_table_use_the_defaults() -> None:
    table = {ErrorCode.TIMEOUT: RetryRule(retries=3)}
    assert decide(ErrorCode.AUTH, 1, table=table).action == "skip_provider"
    assert decide(ErrorCode.TIMEOUT, 3, table=table).retry


@given(
    code=st.sampled_from(list(ErrorCode)),
    attempt=st.integers(min_value=1, max_value=5),
    remaining_s=st.floats(min_value=0, max_value=100),
    retry_after_s=st.none() | st.floats(min_value=0, max_value=200),
)
def test_decisions_are_deterministic_and_never_wait_past_the_deadline(
    code: ErrorCode, attempt: int, remaining_s: float, retry_after_s: float | None
) -> None:
    first = decide(code, attempt, remaining_s=remaining_s, retry_after_s=retry_after_s)
    again = decide(code, attempt, remaining_s=remaining_s, retry_after_s=retry_after_s)
    assert first == again
    if first.retry:
        assert first.delay_s < remaining_s
        assert retry_after_s is None or first.delay_s >= retry_after_s
    else:
        assert first.delay_s == 0.0


def test_jittered_backoff_with_a_seeded_source_repeats() -> None:
    def run() -> list[float]:
        backoff = BackoffPolicy(base_s=1.0, jitter=True, rng=random.Random(3))
        return [
            decide_after_failure(
                failure(ErrorCode.UNAVAILABLE),
                attempt=n,
                table=DEFAULT_RETRY_TABLE,
                remaining_s=100.0,
                backoff=backoff,
            ).delay_s
            for n in (1, 2)
        ]

    assert run() == run()
