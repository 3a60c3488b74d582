"""Which config a command uses: `--config`, else `$LANEWAY_CONFIG`, else `./laneway.yaml`,
else the built-in default. The CLI is a front end: it reads `os.environ` once,
here, and hands the mapping down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from laneway.config.model import Config

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
