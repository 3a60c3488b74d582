"""`laneway demo` and `laneway run` from the terminal: offline, real engine, real audit file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_demo_shows_routing_fallback_guard_and_budget(runner: CliRunner, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--audit-url", f"sqlite:///{db}"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "rule routing.rules[0] matched (lane=review, complexity=high)" in out
    assert "flaky/big-model:rate_limit → flaky/big-model:retry" in out
    assert "local/echo:success" in out
    assert "guard/safety:stop(high)" in out
    assert "job 'job-42' would pass its USD budget" in out
    assert db.exists()
    assert f"Every request above is in sqlite:///{db}" in out


def test_demo_leaves_the_working_directory_alone_and_shows_answers(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []  # no laneway.db: the demo's store was temporary
    lines = [line.rstrip() for line in result.output.splitlines()]
    assert "  answer    metered answer" in lines  # each answer's text
    assert "  answer    plan the database migration" in lines
    assert "  stopped   by the guard lane; it answered: Stopped: unsafe command." in lines
    assert any(line.startswith("  refused   job 'job-42' would pass") for line in lines)
    assert "served by refused" not in result.output
    assert all(len(line) <= 80 for line in lines)
    # a wrapped value continues in its own column, never under the labels
    wrapped = [line for line in lines if line.startswith(" ") and not line.startswith("  ")]
    assert wrapped == []
    for line in lines:
        if line.startswith("   "):
            assert line.startswith(" " * 12), line
    assert "temporary store" in result.output


def test_run_prints_the_answer_and_explains(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        app, ["run", "coding", "hello there", "--no-stream", "--explain"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "hello there" in result.output
    assert "served by local/echo" in result.output
    assert "trace local/echo:success" in result.output


def test_run_unknown_lane_is_one_clear_line(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "nope", "hi"])
    assert result.exit_code == 1
    assert "unknown lane 'nope'" in result.output
    assert "Traceback" not in result.output
