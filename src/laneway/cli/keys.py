"""`laneway keys create|list|revoke`: client keys for `laneway serve`.

A new key is random, printed once, and stored only as its `sha256:` digest in
the keys file the config names (`server.keys_file`), so the config itself,
with its comments, is never rewritten. A config that names no keys file and
has no `server:` section gets one line appended; otherwise the user is told
the line to add. A running server reads keys at start: restart it after a
change.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.errors import ConfigError

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.config.schema import ClientKeySpec

DEFAULT_KEYS_FILE = "laneway-keys.yaml"
KEY_PREFIX = "lw-"


def register(app: typer.Typer) -> None:
    keys_app = typer.Typer(help="Client keys for laneway serve.", no_args_is_help=True)
    keys_app.command("create")(create_command)
    keys_app.command("list")(list_command)
    keys_app.command("revoke")(revoke_command)
    app.add_typer(keys_app, name="keys")


@dataclass(frozen=True, slots=True)
class CreatedKey:
    name: str
    key: str
    digest: str
    keys_file: Path


def new_key() -> tuple[str, str]:
    """A random key and its digest in the form `server.keys` accepts."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def create_command(
    config: ConfigOption = None,
    name: Annotated[
        str | None, typer.Option(help="A name for logs (default key-<digest>).")
    ] = None,
    lanes: Annotated[
        str, typer.Option(help="Comma-separated lanes the key may use; * for all.")
    ] = "*",
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute.")] = None,
    budget_usd: Annotated[
        float | None, typer.Option("--budget-usd", min=0.0, help="USD the key may spend.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new key as JSON.")] = False,
) -> None:
    """Create a key; it is printed once and only its digest is stored."""
    path = config_path(config)
    created = create_key(path, name=name, lanes=_split(lanes), rpm=rpm, budget_usd=budget_usd)
    if as_json:
        record = {
            "name": created.name,
            "key": created.key,
            "digest": created.digest,
            "keys_file": str(created.keys_file),
        }
        typer.echo(json.dumps(record))
        return
    print_created(Console(), created)


def create_key(
    config: Path,
    *,
    name: str | None = None,
    lanes: list[str] | None = None,
    rpm: int | None = None,
    budget_usd: float | None = None,
) -> CreatedKey:
    """Add a new key to the config's keys file (naming one in the config if needed)."""
    from laneway.config.keys_file import read_keys_file, write_keys_file
    from laneway.config.schema import ClientKeySpec

    keys_file = ensure_keys_file(config)
    loaded = load_cli_config(config, environment())
    lanes = lanes or ["*"]
    _check_lanes(loaded, lanes)
    stored = read_keys_file(keys_file)
    key, digest = new_key()
    name = name or f"key-{digest[7:15]}"
    if name in {k.name for k in loaded.spec.server.keys}:
        raise ConfigError(f"a client key named {name!r} exists", hint="choose another --name")
    spec = ClientKeySpec.model_validate(
        {"key": digest, "name": name, "lanes": lanes, "rpm": rpm, "budget_usd": budget_usd}
    )
    write_keys_file(keys_file, [*stored, spec])
    return CreatedKey(name, key, digest, keys_file)


def print_created(console: Console, created: CreatedKey) -> None:
    console.print(f"created client key {created.name!r}:", highlight=False)
    console.print(f"  {created.key}", style="bold", highlight=False, soft_wrap=True)
    console.print(
        f"This is the only time it is shown: {created.keys_file} keeps only its digest. "
        "Clients send it as their API key (OpenAI(..., api_key=KEY)); restart "
        "`laneway serve` to accept it.",
        highlight=False,
    )


def list_command(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")] = False,
) -> None:
    """Every client key: name, digest, lanes, limits and where it is kept (never the key)."""
    path = config_path(config)
    loaded = load_cli_config(path, environment())
    in_file = {k.name for k in _file_keys(loaded, path)}
    rows = [
        _describe(k, "keys file" if k.name in in_file else "config")
        for k in loaded.spec.server.keys
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, sort_keys=True))
        return
    table = Table("name", "digest", "lanes", "rpm", "budget USD", "kept in")
    for row in rows:
        table.add_row(*(str("-" if v is None else v) for v in row.values()))
    Console().print(table)


def revoke_command(
    name: Annotated[str, typer.Argument(help="The key's name (from `laneway keys list`).")],
    config: ConfigOption = None,
) -> None:
    """Remove a key from the keys file; a running server keeps it until restarted."""
    from laneway.config.keys_file import write_keys_file

    path = config_path(config)
    loaded = load_cli_config(path, environment())
    stored = _file_keys(loaded, path)
    kept = [k for k in stored if k.name != name]
    if len(kept) == len(stored):
        if name in {k.name for k in loaded.spec.server.keys}:
            raise ConfigError(
                f"client key {name!r} is written in the config itself (server.keys)",
                file=str(path),
                hint="delete its entry there",
            )
        known = ", ".join(str(k.name) for k in stored) or "none"
        raise ConfigError(f"no client key named {name!r}", hint=f"keys in the file: {known}")
    keys_file = _keys_file_of(loaded, path)
    assert keys_file is not None  # stored keys came from it
    write_keys_file(keys_file, kept)
    Console().print(
        f"revoked {name!r} in {keys_file}; restart `laneway serve` to refuse it", highlight=False
    )


# -- where the keys live ---------------------------------------------------------


def config_path(config: Path | None) -> Path:
    """The config file keys belong to; the built-in default has none to name a keys file."""
    from laneway.config.loader import find_config_file

    path = config if config is not None else find_config_file(environment())
    if path is None:
        raise ConfigError(
            "no config file: keys are kept beside one",
            hint="write one with `laneway init`, or pass -c/--config",
        )
    return path


def ensure_keys_file(config: Path) -> Path:
    """The keys file the config names, naming `laneway-keys.yaml` first if it names none."""
    loaded = load_cli_config(config, environment())
    named = _keys_file_of(loaded, config)
    if named is not None:
        return named
    text = config.read_text(encoding="utf-8")
    if re.search(r"^server\s*:", text, flags=re.MULTILINE):
        raise ConfigError(
            "the config names no keys file",
            file=str(config),
            hint=f"add `keys_file: {DEFAULT_KEYS_FILE}` under `server:`, then run this again",
        )
    line = (
        f"server:\n  keys_file: {DEFAULT_KEYS_FILE}   # client keys (digests only): laneway keys\n"
    )
    config.write_text(text + ("" if text.endswith("\n") else "\n") + line, encoding="utf-8")
    return config.parent / DEFAULT_KEYS_FILE


def _keys_file_of(loaded: Config, config: Path) -> Path | None:
    named = loaded.spec.server.keys_file
    return None if named is None else config.parent / named


def _file_keys(loaded: Config, config: Path) -> list[ClientKeySpec]:
    from laneway.config.keys_file import read_keys_file

    keys_file = _keys_file_of(loaded, config)
    return [] if keys_file is None else read_keys_file(keys_file)


def _describe(key: ClientKeySpec, kept_in: str) -> dict[str, object]:
    secret = key.key.get_secret_value()
    digest = (
        secret
        if secret.startswith("sha256:")
        else "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    )
    return {
        "name": key.name or f"key-{digest[7:15]}",
        "digest": digest[:19] + "…",
        "lanes": ", ".join(key.lanes),
        "rpm": key.rpm,
        "budget_usd": key.budget_usd,
        "kept_in": kept_in,
    }


def _check_lanes(loaded: Config, lanes: list[str]) -> None:
    unknown = [lane for lane in lanes if lane != "*" and lane not in loaded.lanes]
    if unknown:
        raise ConfigError(
            f"--lanes names unknown lane {unknown[0]!r}",
            hint=f"use * or some of: {', '.join(loaded.lanes)}",
        )


def _split(lanes: str) -> list[str]:
    return [lane.strip() for lane in lanes.split(",") if lane.strip()] or ["*"]
