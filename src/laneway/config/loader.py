"""Load a configuration: YAML file, parsed mapping, or the built-in default.

    text --read_yaml--> data --interpolate(env)--> data --pydantic--> ConfigSpec
         --resolve(env)--> Config

The environment is a `Mapping` passed in by the caller (the CLI, the server,
`Gateway.from_config`); nothing here reads `os.environ`. With no source, the
file named by `LANEWAY_CONFIG` in that mapping, else `./laneway.yaml`, else
the built-in default (`defaults.py`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from laneway.config.defaults import default_config
from laneway.config.interpolate import interpolate
from laneway.config.model import Config
from laneway.config.resolve import Source, resolve
from laneway.config.schema import ConfigSpec
from laneway.config.validation import to_config_error
from laneway.config.yaml_reader import PathKey, read_yaml
from laneway.errors import ConfigError

DEFAULT_FILE = "laneway.yaml"
BUILTIN = "<built-in default>"
MAPPING = "<mapping>"

ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | Config | None


def load_config(source: ConfigSource = None, *, env: Mapping[str, str]) -> Config:
    """The resolved `Config`; raises `ConfigError` naming file, key path and fix."""
    if isinstance(source, Config):
        return source
    if source is None:
        path = find_config_file(env)
        if path is None:
            return load_mapping(default_config(env), env=env, file=BUILTIN)
        source = path
    if isinstance(source, Mapping):
        return load_mapping(source, env=env, file=MAPPING)
    return load_file(Path(source), env=env)


def find_config_file(env: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """`$LANEWAY_CONFIG` if set, else `./laneway.yaml` if it exists, else None."""
    named = env.get("LANEWAY_CONFIG", "").strip()
    if named:
        return Path(named)
    candidate = (cwd or Path.cwd()) / DEFAULT_FILE
    return Path(DEFAULT_FILE) if candidate.is_file() else None


def load_file(path: Path, *, env: Mapping[str, str]) -> Config:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            "config file not found",
            file=file,
            hint="create one with `laneway init`, or point --config / LANEWAY_CONFIG at it",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            f"cannot read the config file ({reason})",
            file=file,
            hint="check the path and its permissions",
        ) from exc
    data, lines = read_yaml(text, file)
    return _build(data, env=env, file=file, base_dir=path.parent, lines=lines)


def load_mapping(data: Mapping[str, Any], *, env: Mapping[str, str], file: str = MAPPING) -> Config:
    """A config from already-parsed YAML; relative paths resolve from the working directory."""
    return _build(_plain(data), env=env, file=file, base_dir=Path.cwd(), lines={})


def _build(
    data: Any, *, env: Mapping[str, str], file: str, base_dir: Path, lines: dict[PathKey, int]
) -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"the config must be a mapping of sections, not {type(data).__name__}",
            file=file,
            hint="start the file with `providers:` and `lanes:` sections",
        )
    data, refs = interpolate(data, env, file=file)
    try:
        spec = ConfigSpec.model_validate(data)
    except ValidationError as exc:
        raise to_config_error(exc, data, file=file, lines=lines) from exc
    source = Source(file=file, base_dir=base_dir, lines=lines, env_refs=refs)
    return resolve(with_keys_file(spec, base_dir), source, env)


def with_keys_file(spec: ConfigSpec, base_dir: Path) -> ConfigSpec:
    """`server.keys` plus the keys of `server.keys_file`, when one is named."""
    server = spec.server
    if server.keys_file is None:
        return spec
    from laneway.config.keys_file import read_keys_file

    extra = read_keys_file(base_dir / server.keys_file)
    if not extra:
        return spec
    merged = server.model_copy(update={"keys": [*server.keys, *extra]})
    return spec.model_copy(update={"server": merged})


def _plain(value: Any) -> Any:
    """Mappings and sequences as plain dicts and lists, as YAML would have produced."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
