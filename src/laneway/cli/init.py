"""`laneway init`: write a commented example `laneway.yaml` to start from.

The example routes per phase (planning on Claude Opus, coding on GLM through
the `zai` preset, review on Claude Sonnet) and guards coding with an
in-process safety lane. It never overwrites a file unless `--force` is given.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from laneway.errors import ConfigError

TEMPLATE = "laneway.yaml"


def register(app: typer.Typer) -> None:
    app.command("init")(init_command)


def example_config() -> str:
    """The text `laneway init` writes."""
    return (resources.files("laneway.cli") / "templates" / TEMPLATE).read_text(encoding="utf-8")


def init_command(
    path: Annotated[Path, typer.Option("--path", "-p", help="Where to write.")] = Path(TEMPLATE),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    create_key: Annotated[
        bool | None,
        typer.Option(
            "--create-key/--no-create-key",
            help="Also create a client key for laneway serve (asked when interactive).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write an example laneway.yaml with per-phase routing."""
    if path.exists() and not force:
        raise ConfigError(
            "file exists; not overwriting it",
            file=str(path),
            hint="pass --force to replace it, or --path to write elsewhere",
        )
    path.write_text(example_config(), encoding="utf-8")
    console = Console()
    console.print(f"[green]wrote[/] {path}")
    if create_key is None and sys.stdin.isatty():
        create_key = typer.confirm("Create a client key for `laneway serve` now?", default=True)
    if create_key:
        from laneway.cli.keys import create_key as create
        from laneway.cli.keys import print_created

        print_created(console, create(path))
    console.print("next: set ANTHROPIC_API_KEY and ZAI_API_KEY, then")
    console.print("  laneway check")
    console.print("  laneway route planning --explain")
    if not create_key:
        console.print("  laneway keys create          # a client key for laneway serve")
