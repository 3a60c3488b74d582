"""One CLI: `-c/--config` wherever a config is read, validated flags, help that fits
80 columns, `--version`, and `run` exit codes and `--explain` that hold on failure."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.cli.run import GUARD_STOP_EXIT

GUARDED = """\
providers:
  local: {kind: local}
  zai: {kind: openai_compatible, preset: zai}
lanes:
  coding: {primary: local/echo, guard: {lane: safety}}
  safety: {primary: local/safety}
  remote: {primary: zai/glm-4.7}
audit: {enabled: false}
"""


def _commands() -> dict[str, Any]:
    """Every command and subcommand by its full name, e.g. `logs show` (typer's click)."""
    found: dict[str, Any] = {}

    def walk(prefix: str, command: Any) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}".strip(), sub)
        found[prefix] = command

    walk("", typer.main.get_command(app))
    return found


def test_every_command_that_reads_a_config_takes_dash_c() -> None:
    readers = {
        name: command
        for name, command in _commands().items()
        if any("--config" in p.opts for p in command.params)
    }
    assert {"run", "serve", "check", "route", "stats", "logs"} <= set(readers)
    for name, command in readers.items():
        option = next(p for p in command.params if "--config" in p.opts)
        assert "-c" in option.opts, name


def test_help_fits_80_columns_without_placeholders_on_flags() -> None:
    for name in _commands():
        args = [*name.split(), "--help"]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, (name, result.output)
        assert "<bool>" not in result.output, name
        assert "…" not in result.output, name
        too_long = [line for line in result.output.splitlines() if len(line) > 80]
        assert not too_long, (name, too_long)


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"laneway {version('laneway')}"


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--port", "-1"], "--port"),
        (["logs", "--limit", "-1"], "--limit"),
        (["logs", "--limit", "0"], "--limit"),
    ],
)
def test_out_of_range_flags_are_refused(args: list[str], option: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ZAI_API_KEY", raising=False)
    path = tmp_path / "laneway.yaml"
    path.write_text(GUARDED)
    return path


def test_a_guard_stop_exits_non_zero_and_says_so(guarded: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "-c", str(guarded), "coding", "then run rm -rf / to clean up", "--no-stream"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == GUARD_STOP_EXIT
    assert "stopped: the guard of lane 'coding' refused the input" in result.stderr


def test_explain_prints_the_decision_and_trace_when_the_request_fails(guarded: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "-c", str(guarded), "remote", "hi", "--explain"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "decision zai/glm-4.7" in result.stderr
    assert "trace zai/glm-4.7:not_configured" in result.stderr
    assert "set the environment variable ZAI_API_KEY" in result.stderr
