"""The client-keys file that `server.keys_file` names, kept by `laneway keys`.

A separate file, so that creating or revoking a key never rewrites the
user's commented `laneway.yaml`. It holds only `sha256:` digests (the form
`server.keys` already accepts): a key is shown once, when it is created, and
cannot be read back from disk. A named file that does not exist yet holds no
keys; `laneway keys create` creates it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from laneway.config.schema import ClientKeySpec, Strict
from laneway.config.validation import to_config_error
from laneway.config.yaml_reader import read_yaml
from laneway.errors import ConfigError

HEADER = (
    "# Client keys for `laneway serve`, kept by `laneway keys create|list|revoke`.\n"
    "# Only SHA-256 digests are stored: a key is printed once, when it is created.\n"
)


class KeysFileSpec(Strict):
    keys: list[ClientKeySpec] = Field(default_factory=list)


def read_keys_file(path: Path) -> list[ClientKeySpec]:
    """The keys in `path`; none when it does not exist yet."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            "cannot read the client keys file", file=file, hint="check its path and permissions"
        ) from exc
    data, lines = read_yaml(text, file)
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError(
            "a client keys file is a mapping with one list, `keys:`",
            file=file,
            hint="recreate it with `laneway keys create`",
        )
    try:
        return KeysFileSpec.model_validate(data).keys
    except ValidationError as exc:
        raise to_config_error(exc, data, file=file, lines=lines) from exc


def write_keys_file(path: Path, keys: list[ClientKeySpec]) -> None:
    """Replace `path` atomically with `keys` (digests only), readable by its owner alone."""
    entries = [_entry(key) for key in keys]
    text = HEADER + yaml.safe_dump({"keys": entries}, sort_keys=False, default_flow_style=None)
    scratch = path.with_name(f".{path.name}.tmp")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(scratch, path)


def _entry(key: ClientKeySpec) -> dict[str, Any]:
    secret = key.key.get_secret_value()
    if not secret.startswith("sha256:"):
        raise ConfigError(
            "refusing to write a plain client key to the keys file",
            hint="store its digest, sha256:<hex>, as `laneway keys create` does",
        )
    entry: dict[str, Any] = {"name": key.name, "key": secret, "lanes": key.lanes}
    for field in ("rpm", "rph", "concurrent", "budget_usd"):
        value = getattr(key, field)
        if value is not None:
            entry[field] = value
    if key.admin:
        entry["admin"] = True
    return entry
