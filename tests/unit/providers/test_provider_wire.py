"""Shared wire helpers: the status table, message sanitising, body decoding and cost."""

from __future__ import annotations

import pytest

from laneway.errors import ErrorCode, ProviderError
from laneway.http import TransportError
from laneway.providers._wire import (
    error_from_status,
    from_transport_error,
    parse_json_body,
    sanitize_message,
    with_cost,
)
from laneway.types import Capability, ModelInfo, ModelRef, Price, Usage


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, ErrorCode.BAD_REQUEST, False),
        (401, ErrorCode.AUTH, False),
        (403, ErrorCode.AUTH, False),
        (404, ErrorCode.BAD_REQUEST, False),
        (408, ErrorCode.TIMEOUT, True),
        (413, ErrorCode.CONTEXT_LENGTH, False),
        (422, ErrorCode.BAD_REQUEST, False),
        (429, ErrorCode.RATE_LIMIT, True),
        (500, ErrorCode.UNAVAILABLE, True),
        (502, ErrorCode.UNAVAILABLE, True),
        (503, ErrorCode.UNAVAILABLE, True),
        (504, ErrorCode.UNAVAILABLE, True),
        (529, ErrorCode.UNAVAILABLE, True),
        (418, ErrorCode.UNKNOWN, False),
    ],
)
def test_status_table(status: int, code: ErrorCode, retryable: bool) -> None:
    err = error_from_status("p", "m", status, {}, now_wall=0.0)
    assert (err.code, err.retryable, err.status) == (code, retryable, status)


def test_context_length_code_wins_over_the_status() -> None:
    err = error_from_status("p", "m", 400, {}, now_wall=0.0, error_code="context_length_exceeded")
    assert err.code is ErrorCode.CONTEXT_LENGTH


def test_retry_after_only_for_retryable_codes() -> None:
    headers = {"retry-after": "4"}
    assert error_from_status("p", "m", 429, headers, now_wall=0.0).retry_after_s == 4.0
    assert error_from_status("p", "m", 400, headers, now_wall=0.0).retry_after_s is None


def test_an_adapter_can_force_the_code() -> None:
    err = error_from_status("p", "m", 429, {}, now_wall=0.0, code=ErrorCode.AUTH)
    assert (err.code, err.retryable) == (ErrorCode.AUTH, False)


@pytest.mark.parametrize(
    "secret",
    [
        "Bearer abcdefghijklmnopqrstuvwxyz012345",
        "sk-proj-abcdefghijklmnopqrstuv",
        "sk-ant-api03-abcdefghijklmnopqrstuv",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz",
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
        "api_key=abcdef123456",
    ],
)
def test_sanitize_masks_key_shaped_text(secret: str) -> None:
    clean = sanitize_message(f"Incorrect API key provided: {secret}. Try again")
    assert secret not in clean
    assert "[redacted]" in clean
    assert clean.startswith("Incorrect API key provided")


def test_sanitize_truncates_and_flattens() -> None:
    clean = sanitize_message("line one\nline two " + "word " * 200)
    assert "\n" not in clean
    assert len(clean) <= 300
    assert clean.endswith("…")


def test_provider_message_in_error_is_sanitized() -> None:
    err = error_from_status(
        "p", "m", 401, {}, now_wall=0.0, message="bad key sk-abcdefghijklmnop1234"
    )
    assert "sk-abcdefghijklmnop1234" not in str(err)
    assert "API key" in str(err)  # the hint names the fix


@pytest.mark.parametrize("body", [b"", b"not json", b'{"a": 1'])
def test_parse_json_body_rejects_non_json(body: bytes) -> None:
    with pytest.raises(ProviderError) as caught:
        parse_json_body("p", "m", body)
    assert caught.value.code is ErrorCode.INVALID_RESPONSE
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("kind", "code", "retryable"),
    [("timeout", ErrorCode.TIMEOUT, True), ("network", ErrorCode.NETWORK, False)],
)
def test_transport_errors(kind: str, code: ErrorCode, retryable: bool) -> None:
    err = from_transport_error("p", "m", TransportError("x", kind=kind), credential="p[b]")
    assert (err.code, err.retryable, err.credential) == (code, retryable, "p[b]")


def test_cost_from_price() -> None:
    info = ModelInfo(ModelRef("p", "m"), frozenset({Capability.TOOLS}), price=Price(3.0, 15.0))
    usage = with_cost(Usage(1_000_000, 100_000), info)
    assert usage.cost_usd == pytest.approx(4.5)
    assert with_cost(Usage(10, 10), None).cost_usd is None
    assert with_cost(Usage(10, 10, 0.5), info).cost_usd == 0.5
