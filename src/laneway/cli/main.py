"""The `laneway` command: one Typer app, one module per command group.

Each module in `COMMAND_MODULES` exposes `register(app)`; adding a command is
adding its module name here. Command modules import heavy parts (pydantic
config, the engine, HTTP clients) inside their functions, so `laneway --help`
stays quick.

No traceback reaches the user for a config or usage error: every
`LanewayError` (and a stray YAML or OS error) is printed as a short red
message and the command exits 1. A traceback means a bug in laneway.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from laneway.errors import LanewayError

COMMAND_MODULES: list[str] = [
    "laneway.cli.init",
    "laneway.cli.check",
    "laneway.cli.route",
    "laneway.cli.config_cmd",
    "laneway.cli.serve",
    "laneway.cli.run",
    "laneway.cli.demo",
    "laneway.cli.logs",
    "laneway.cli.stats",
    "laneway.cli.keys",
    "laneway.cli.simulate",
    "laneway.cli.status",
]


def render_error(exc: BaseException) -> None:
    """The one way an error reaches the terminal: red, short, on stderr."""
    console = Console(stderr=True)
    text = Text("error: ", style="bold red")
    text.append(_describe(exc))
    console.print(text, soft_wrap=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LanewayError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, LanewayError | OSError):
        return True
    yaml = sys.modules.get("yaml")
    return yaml is not None and isinstance(exc, yaml.YAMLError)


class LanewayGroup(TyperGroup):
    """Renders user errors raised by any subcommand instead of a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not _is_user_error(exc):
                raise
            render_error(exc)
            raise typer.Exit(1) from None


HELP = """Route each piece of LLM work to the right model, and keep it working.

Commands that read a config take -c/--config FILE. Without it they use
$LANEWAY_CONFIG, else ./laneway.yaml, else the built-in default: every lane on
the in-process local provider, plus any provider whose key is set.
"""

app = typer.Typer(
    cls=LanewayGroup,
    name="laneway",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: no value placeholder on flags, fits 80 columns
)


def register_commands(target: typer.Typer, modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name).register(target)


register_commands(app, COMMAND_MODULES)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"laneway {version('laneway')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options of `laneway` itself (the help text is `HELP`)."""


def main() -> None:
    """Console-script entry point (`laneway = "laneway.cli.main:main"`)."""
    try:
        app()
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        render_error(exc)
        raise SystemExit(1) from None
