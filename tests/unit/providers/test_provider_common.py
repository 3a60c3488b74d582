"""Shared provider helpers: the status table, message sanitising, cost and secrets."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from wire_helpers import counting_command

from laneway.clock import FakeClock
from laneway.config.credentials import Credential
from laneway.errors import ErrorCode, ProviderError
from laneway.http import TransportError
from laneway.providers._common import (
    EXPIRY_SKEW_S,
    SecretResolver,
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


# -- secrets -----------------------------------------------------------------


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


def command_credential(command: str, ttl_s: float = 300.0) -> Credential:
    return Credential(provider="anthropic", profile="oauth", command=command, command_ttl_s=ttl_s)


async def test_command_token_is_cached_for_its_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    resolver = SecretResolver({}, clock)
    credential = command_credential(counting_command(tmp_path, "tok-N"), ttl_s=60)
    assert await resolver.secret(credential) == "tok-1"
    clock.advance(59)
    assert await resolver.secret(credential) == "tok-1"
    assert runs(tmp_path) == 1
    clock.advance(2)
    assert await resolver.secret(credential) == "tok-2"


async def test_command_json_expiry_overrides_the_ttl(tmp_path: Path) -> None:
    clock = FakeClock()
    resolver = SecretResolver({}, clock)
    output = '{"token": "tok-N", "expires_in": 30}'
    credential = command_credential(counting_command(tmp_path, output), ttl_s=3600)
    assert await resolver.secret(credential) == "tok-1"
    clock.advance(30 - EXPIRY_SKEW_S - 0.5)
    assert await resolver.secret(credential) == "tok-1"
    clock.advance(1)
    assert await resolver.secret(credential) == "tok-2"


async def test_command_expires_at_is_wall_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    output = json.dumps({"token": "tok-N", "expires_at": clock.wall() + 100})
    resolver = SecretResolver({}, clock)
    credential = command_credential(counting_command(tmp_path, output))
    await resolver.secret(credential)
    clock.advance(90)
    assert await resolver.secret(credential) == "tok-1"
    clock.advance(10)
    assert await resolver.secret(credential) == "tok-2"


async def test_invalidate_forces_a_new_token(tmp_path: Path) -> None:
    resolver = SecretResolver({}, FakeClock())
    credential = command_credential(counting_command(tmp_path, "tok-N"))
    await resolver.secret(credential)
    resolver.invalidate(credential)
    assert await resolver.secret(credential) == "tok-2"


async def test_failing_command_names_the_program_never_its_output(tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text("print('hunter2-secret-output'); raise SystemExit(3)\n")
    credential = command_credential(shlex.join([sys.executable, str(script), "--password=pw1"]))
    with pytest.raises(ProviderError) as caught:
        await SecretResolver({}, FakeClock()).secret(credential)
    err = caught.value
    assert err.code is ErrorCode.AUTH
    assert "exited with status 3" in err.message
    assert sys.executable in err.message
    assert "hunter2" not in str(err)
    assert "pw1" not in str(err)
    assert err.credential == "anthropic[oauth]"


async def test_missing_program_is_an_auth_error(tmp_path: Path) -> None:
    credential = command_credential(str(tmp_path / "no-such-helper"))
    with pytest.raises(ProviderError) as caught:
        await SecretResolver({}, FakeClock()).secret(credential)
    assert caught.value.code is ErrorCode.AUTH
    assert "could not be started" in caught.value.message


async def test_json_without_token_is_an_auth_error(tmp_path: Path) -> None:
    credential = command_credential(counting_command(tmp_path, '{"expires_in": 5}'))
    with pytest.raises(ProviderError) as caught:
        await SecretResolver({}, FakeClock()).secret(credential)
    assert '"token"' in caught.value.message


async def test_inline_and_env_secrets() -> None:
    resolver = SecretResolver({"MY_KEY": "from-env"}, FakeClock())
    inline = Credential(provider="p", profile="default", inline=SecretStr("inline-key"))
    env = Credential(provider="p", profile="default", env_var="MY_KEY")
    assert await resolver.secret(inline) == "inline-key"
    assert await resolver.secret(env) == "from-env"


async def test_require_names_the_missing_variable() -> None:
    credential = Credential(provider="zai", profile="default", env_var="ZAI_API_KEY")
    with pytest.raises(ProviderError) as caught:
        await SecretResolver({}, FakeClock()).require(credential)
    assert caught.value.code is ErrorCode.NOT_CONFIGURED
    assert "ZAI_API_KEY" in caught.value.message
    optional = Credential(provider="ollama", profile="default", required=False)
    assert await SecretResolver({}, FakeClock()).require(optional) is None
