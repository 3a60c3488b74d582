"""How a failure is filed in the request's record: one status per kind of failure."""

from __future__ import annotations

import pytest

from laneway.engine.record import status_of
from laneway.errors import (
    BudgetExceededError,
    ErrorCode,
    LanewayError,
    OutputRejectedError,
    ProviderError,
    RoutingExhaustedError,
)
from laneway.types import Attempt, ModelRef


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OutputRejectedError("x", code=ErrorCode.INVALID_RESPONSE, stage="parse"), "parse_error"),
        (OutputRejectedError("x", code=ErrorCode.INVALID_RESPONSE), "validation_error"),
        (OutputRejectedError("x", code=ErrorCode.PII_LEAK, stage="pii"), "pii_leak"),
        (
            BudgetExceededError("x", scope="job", limit=1, spent=1, estimate=0.1),
            "budget_exceeded",
        ),
        (ProviderError("x", provider="p", code=ErrorCode.BAD_REQUEST), "failed"),
    ],
)
def test_each_failure_has_its_status(error: LanewayError, expected: str) -> None:
    assert status_of(error)[0] == expected


def test_an_exhausted_request_is_filed_under_its_last_code_or_the_deadline() -> None:
    attempts = [Attempt(ModelRef("p", "m"), "unavailable", 1, 5.0)]
    assert status_of(RoutingExhaustedError("x", attempts=attempts)) == ("failed", "unavailable")
    late = RoutingExhaustedError("x", attempts=attempts, deadline_exhausted=True)
    assert status_of(late) == ("failed", "deadline_exhausted")
