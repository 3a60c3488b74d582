"""`SecretResolver`: inline and environment secrets, and `api_key_command` tokens."""

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
from laneway.providers._secrets import EXPIRY_SKEW_S, SecretResolver


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
