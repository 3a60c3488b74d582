"""Which config a command uses: `--config`, else `$LANEWAY_CONFIG`, else `./laneway.yaml`,
else the built-in default. The CLI is a front end: it reads `os.environ` once,
here, and hands the mapping down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from laneway.config.store_urls import StoreLocation, parse_store_url

if TYPE_CHECKING:
    from laneway.config.model import Config

DEFAULT_AUDIT_URL = "sqlite:///laneway.db"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file; else $LANEWAY_CONFIG, ./laneway.yaml, the built-in default.",
    ),
]


def environment() -> dict[str, str]:
    return dict(os.environ)


def load_cli_config(path: Path | None, env: dict[str, str] | None = None) -> Config:
    from laneway.config.loader import load_config

    return load_config(path, env=environment() if env is None else env)


def locate_audit_store(
    *, url: str | None, config: Path | None, env: Mapping[str, str]
) -> StoreLocation:
    """The audit store: `--url`, else the config's `audit.url`, else `sqlite:///laneway.db`."""
    if url is not None:
        return parse_store_url(url, source_dir=Path.cwd())
    from laneway.config.loader import find_config_file, load_config

    path = config if config is not None else find_config_file(env)
    if path is None:
        return parse_store_url(DEFAULT_AUDIT_URL, source_dir=Path.cwd())
    loaded = load_config(path, env=env)
    return parse_store_url(loaded.spec.audit.url, source_dir=path.resolve().parent)
