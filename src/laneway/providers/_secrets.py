"""The secret of a credential profile: inline, from the environment, or from a command.

`SecretResolver` reads `api_key` / `api_key_env` (`read_secret`), or runs
`api_key_command` without a shell and caches its token until its stated
expiry or `command_ttl_s`. This is the one provider module that runs a
process; the wire helpers (`_wire.py`) stay pure.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from laneway.clock import Clock
from laneway.config.credentials import Credential, read_secret
from laneway.errors import ErrorCode, ProviderError

#: Refresh a command's token this long before the expiry it stated.
EXPIRY_SKEW_S = 5.0
#: A configured header value shorter than this is no secret (`1`, `true`): masking
#: it would garble every message that contains those characters.
MIN_MASKED_CHARS = 8
COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class _CachedToken:
    token: str
    expires_at: float  # monotonic seconds


class SecretResolver:
    """The secret for a credential profile, running `api_key_command` when there is one.

    A command is split with `shlex` and run without a shell. Its output is the
    token, or JSON `{"token": ..., "expires_in": s}` / `{"token": ..., "expires_at":
    epoch_s}`. Tokens are cached until that expiry (less `EXPIRY_SKEW_S`) or
    `command_ttl_s`. Failures name the command, never its output.

    The last few secrets handed out per profile are remembered so `mask` can
    take them out of a provider's error message by value: the patterns of
    `sanitize_message` catch what looks like a key, not a command's token or a
    self-hosted server's key echoed back by a proxy. `also_mask` adds values
    sent some other way: a provider's config `headers:` (a gateway token, say).
    """

    def __init__(self, env: Mapping[str, str], clock: Clock, also_mask: Iterable[str] = ()) -> None:
        self._env = env
        self._clock = clock
        self._fixed = tuple(
            value for value in dict.fromkeys(also_mask) if len(value) >= MIN_MASKED_CHARS
        )
        self._cache: dict[tuple[str, str, str], _CachedToken] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._sent: dict[tuple[str, str], deque[str]] = {}

    async def secret(self, credential: Credential) -> str | None:
        """The secret, or None when the profile has none (e.g. a local server)."""
        if credential.command is None:
            value = read_secret(credential, self._env)
        else:
            value = await self._command_token(credential, credential.command)
        if value:
            key = (credential.provider, credential.profile)
            sent = self._sent.get(key)
            if sent is None:
                sent = self._sent[key] = deque(maxlen=4)
            if value not in sent:
                sent.append(value)
        return value

    def mask(self, text: str) -> str:
        """`text` with every secret this resolver handed out replaced by `[redacted]`.

        Where `sanitize_message` cut a message short ("…"), a secret's first
        characters (4 or more) just before the cut are masked too.
        """
        for values in (self._fixed, *self._sent.values()):
            for value in values:
                text = text.replace(value, "[redacted]")
                if "…" in text:
                    for n in range(len(value) - 1, 3, -1):
                        text = text.replace(value[:n] + "…", "[redacted]…")
        return text

    async def _command_token(self, credential: Credential, command: str) -> str:
        key = (credential.provider, credential.profile, command)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached is not None and self._clock.monotonic() < cached.expires_at:
                return cached.token
            token = await self._run(credential, command)
            self._cache[key] = token
            return token.token

    async def require(self, credential: Credential) -> str | None:
        """Like `secret`, but a required profile without a secret is `not_configured`."""
        value = await self.secret(credential)
        if value is None and credential.required:
            where = f"set the environment variable {credential.env_var}"
            if credential.env_var is None:
                where = "set api_key, api_key_env or api_key_command in the provider's config"
            raise ProviderError(
                f"no API key for profile {credential.label!r}; {where}",
                provider=credential.provider,
                code=ErrorCode.NOT_CONFIGURED,
                credential=credential.label,
            )
        return value

    def invalidate(self, credential: Credential) -> None:
        """Forget a cached command token (after the provider rejected it)."""
        if credential.command is not None:
            self._cache.pop((credential.provider, credential.profile, credential.command), None)

    async def _run(self, credential: Credential, command: str) -> _CachedToken:
        output = await _run_command(credential, command)
        return self._parse_output(credential, command, output)

    def _parse_output(self, credential: Credential, command: str, output: str) -> _CachedToken:
        now = self._clock.monotonic()
        default = _CachedToken(output, now + credential.command_ttl_s)
        if not output.startswith("{"):
            if not output:
                raise _command_failure(credential, command, "printed nothing")
            return default
        try:
            data = json.loads(output)
        except ValueError:
            return default  # a token that happens to start with "{"
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise _command_failure(credential, command, 'printed JSON without a "token" string')
        lifetime = _lifetime_s(data, now_wall=self._clock.wall())
        if lifetime is None:
            return _CachedToken(token.strip(), default.expires_at)
        return _CachedToken(token.strip(), now + max(0.0, lifetime - EXPIRY_SKEW_S))


def _lifetime_s(data: Mapping[str, Any], *, now_wall: float) -> float | None:
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return float(expires_in)
    expires_at = data.get("expires_at")
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return float(expires_at) - now_wall
    return None


def _command_failure(credential: Credential, command: str, what: str) -> ProviderError:
    """An auth error naming the command's program, never its arguments or output."""
    try:
        parts = shlex.split(command)
    except ValueError:
        parts = command.split()
    program = parts[0] if parts else "<empty>"
    return ProviderError(
        f"api_key_command {program!r} of profile {credential.label!r} {what}; "
        "run it by hand to see why",
        provider=credential.provider,
        code=ErrorCode.AUTH,
        credential=credential.label,
    )


async def _run_command(credential: Credential, command: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError:
        raise _command_failure(credential, command, "cannot be parsed (check its quotes)") from None
    if not argv:
        raise _command_failure(credential, command, "is empty")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        raise _command_failure(credential, command, "could not be started") from exc
    try:
        stdout, _ = await asyncio.wait_for(proc.communicate(), COMMAND_TIMEOUT_S)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise _command_failure(
            credential, command, f"did not finish within {COMMAND_TIMEOUT_S:.0f} s"
        ) from exc
    if proc.returncode != 0:
        raise _command_failure(credential, command, f"exited with status {proc.returncode}")
    return stdout.decode("utf-8", errors="replace").strip()
