"""Every engine error maps to the status and OpenAI error body a client's retry logic expects."""

from __future__ import annotations

import json

import pytest

from laneway.errors import (
    BudgetExceededError,
    ConfigError,
    ErrorCode,
    OutputRejectedError,
    ProviderError,
    RoutingExhaustedError,
)
from laneway.server.errors import to_api_error
from laneway.types import Attempt, ModelRef

A, B = ModelRef("p", "a"), ModelRef("q", "b")


def exhausted(
    *codes: tuple[ModelRef, str], retry_after_s: float | None = None, deadline: bool = False
) -> RoutingExhaustedError:
    attempts = [Attempt(model, code, 1, 5.0) for model, code in codes]
    errors = [
        ProviderError(
            "x", provider=m.provider, model=m.model, code=ErrorCode(c), retry_after_s=retry_after_s
        )
        for m, c in codes
        if c in ErrorCode._value2member_map_
    ]
    return RoutingExhaustedError(
        "all failed", attempts=attempts, errors=errors, deadline_exhausted=deadline
    )


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (
            exhausted((A, "rate_limit"), (B, "rate_limit"), retry_after_s=2.2),
            429,
            "upstream_rate_limited",
        ),
        (exhausted((A, "auth"), (B, "invalid_response")), 502, "upstream_failed"),
        (exhausted((A, "unavailable"), (B, "timeout")), 503, "upstream_unavailable"),
        (exhausted((A, "rate_limit"), (B, "unavailable")), 503, "upstream_unavailable"),
        (exhausted((A, "circuit_open"), (B, "network")), 503, "upstream_unavailable"),
        (exhausted((A, "timeout"), deadline=True), 504, "deadline_exhausted"),
        (exhausted((A, "context_length"), (B, "context_length")), 400, "context_length_exceeded"),
        (
            BudgetExceededError("over", scope="task", limit=1.0, spent=0.9, estimate=0.2),
            429,
            "budget_exceeded",
        ),
        (OutputRejectedError("bad json", code=ErrorCode.INVALID_RESPONSE), 422, "invalid_response"),
        (OutputRejectedError("leak", code=ErrorCode.PII_LEAK, reasons=["email"]), 422, "pii_leak"),
        (
            ProviderError("bad", provider="p", code=ErrorCode.BAD_REQUEST),
            400,
            "upstream_bad_request",
        ),
        (ConfigError("unknown lane 'x'", path="lanes.x"), 404, "model_not_found"),
        (RuntimeError("bug"), 500, "internal_error"),
    ],
)
def test_status_and_code(error: BaseException, status: int, code: str) -> None:
    api = to_api_error(error, "req-1")
    assert (api.status, api.code) == (status, code)
    body = json.loads(api.body())
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code


def test_rate_limited_upstreams_give_the_shortest_retry_after_rounded_up() -> None:
    api = to_api_error(exhausted((A, "rate_limit"), (B, "rate_limit"), retry_after_s=2.2))
    assert api.headers["retry-after"] == "3"


def test_the_final_code_of_each_model_decides_not_its_retries() -> None:
    error = RoutingExhaustedError(
        "all failed",
        attempts=[
            Attempt(A, "unavailable", 1, 1.0, retried=True),
            Attempt(A, "auth", 2, 1.0),
            Attempt(B, "auth", 1, 1.0),
        ],
    )
    assert to_api_error(error).status == 502


def test_budget_errors_tell_sdks_not_to_retry() -> None:
    api = to_api_error(BudgetExceededError("x", scope="job", limit=1, spent=1, estimate=0.1))
    assert api.headers["x-should-retry"] == "false"
    assert api.type == "insufficient_quota"


def test_a_bug_names_the_request_id_but_not_the_exception() -> None:
    api = to_api_error(RuntimeError("secret-ish detail"), "req-9")
    assert "req-9" in api.message
    assert "secret-ish" not in api.message


def test_exhaustion_message_lists_attempts() -> None:
    api = to_api_error(exhausted((A, "auth"), (B, "auth")))
    assert "p/a: auth" in api.message
    assert "q/b: auth" in api.message


@pytest.mark.parametrize(
    ("retry_after_s", "header"),
    [(float("inf"), "3600"), (float("nan"), "1"), (1e9, "3600"), (2.2, "3")],
)
def test_an_upstreams_retry_after_is_a_sane_header_whatever_it_said(
    retry_after_s: float, header: str
) -> None:
    """`Retry-After: 1e309` from an upstream reached math.ceil as infinity: a 500."""
    error = ProviderError(
        "slow down", provider="p", code=ErrorCode.RATE_LIMIT, retry_after_s=retry_after_s
    )
    assert to_api_error(error).headers["retry-after"] == header
    unavailable = ProviderError(
        "down", provider="p", code=ErrorCode.UNAVAILABLE, retry_after_s=retry_after_s
    )
    assert to_api_error(unavailable).headers["retry-after"] == header
