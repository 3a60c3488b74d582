"""Where a provider's credentials come from, and whether they are present.

Pure: the environment is passed in. Used by `laneway check`, by the engine's
credential check before any network call, and by adapters to fetch the secret.
A status names the variable or command expected, never the secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from laneway.config.presets import preset_for
from laneway.config.schema import ProviderSpec


@dataclass(frozen=True, slots=True)
class Credential:
    """One credential profile of one provider; the trace names it by `label`."""

    provider: str
    profile: str
    env_var: str | None = None
    command: str | None = None
    inline: SecretStr | None = None
    command_ttl_s: float = 300.0
    required: bool = True

    @property
    def label(self) -> str:
        return self.provider if self.profile == "default" else f"{self.provider}[{self.profile}]"

    @property
    def source(self) -> str:
        if self.inline is not None:
            return "config"
        if self.command is not None:
            return "command"
        if self.env_var is not None:
            return f"env:{self.env_var}"
        return "none"


@dataclass(frozen=True, slots=True)
class CredentialStatus:
    credential: Credential
    present: bool
    problem: str | None = None


def credentials_for(provider_id: str, spec: ProviderSpec) -> tuple[Credential, ...]:
    """The profiles to try, in order: `credentials:` entries, else the provider's own key."""
    preset = preset_for(spec.kind, getattr(spec, "preset", None))
    default_env = preset.key_env if preset else None
    if spec.credentials:
        return tuple(
            Credential(
                provider=provider_id,
                profile=entry.name or f"#{index + 1}",
                env_var=entry.api_key_env,
                command=entry.api_key_command,
                inline=entry.api_key,
                command_ttl_s=entry.command_ttl_s,
            )
            for index, entry in enumerate(spec.credentials)
        )
    explicit = spec.api_key is not None or spec.api_key_command or spec.api_key_env
    return (
        Credential(
            provider=provider_id,
            profile="default",
            env_var=spec.api_key_env or default_env,
            command=spec.api_key_command,
            inline=spec.api_key,
            required=bool(explicit or default_env),
        ),
    )


def check_credential(credential: Credential, env: Mapping[str, str]) -> CredentialStatus:
    """Present or not, without running commands or calling anyone."""
    if not credential.required:
        return CredentialStatus(credential, present=True)
    if credential.inline is not None:
        if credential.inline.get_secret_value().strip():
            return CredentialStatus(credential, present=True)
        problem = (
            f"provider {credential.provider!r}: api_key is empty in the config "
            f"(an unset ${{VAR}} interpolates to nothing)"
        )
        if credential.env_var:
            problem += f"; set {credential.env_var}"
        return CredentialStatus(credential, present=False, problem=problem)
    if credential.command is not None:
        return CredentialStatus(credential, present=True)
    if credential.env_var and env.get(credential.env_var, "").strip():
        return CredentialStatus(credential, present=True)
    where = f" ({credential.profile})" if credential.profile != "default" else ""
    return CredentialStatus(
        credential,
        present=False,
        problem=(
            f"provider {credential.provider!r}{where}: no API key; "
            f"set the environment variable {credential.env_var}"
        ),
    )


def read_secret(credential: Credential, env: Mapping[str, str]) -> str | None:
    """The inline or environment secret; commands are run by the provider edge."""
    if credential.inline is not None:
        return credential.inline.get_secret_value() or None
    if credential.env_var:
        return env.get(credential.env_var) or None
    return None
