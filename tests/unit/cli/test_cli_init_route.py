"""`laneway init`, then `laneway route`: the example config routes per phase, explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app

KEYS = {"ANTHROPIC_API_KEY": "a-key", "ZAI_API_KEY": "z-key"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LANEWAY_CONFIG", "ANTHROPIC_API_KEY", "ZAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_init_then_route_planning_explain_shows_opus(workdir: Path) -> None:
    code, out = _run("init")
    assert code == 0
    assert (workdir / "laneway.yaml").is_file()
    code, out = _run("route", "planning", "--explain")
    assert code == 0, out
    assert "anthropic/claude-opus-4-5" in out
    assert "reasoning" in out
    assert "rules evaluated" in out
    assert "rule wants 'coding'" in out


def test_route_coding_shows_glm_with_reasoning(workdir: Path) -> None:
    _run("init")
    code, out = _run("route", "coding", "--json")
    assert code == 0
    decision = json.loads(out)
    assert decision["model"] == "zai/glm-4.7"
    assert decision["fallback_chain"] == ["anthropic/claude-sonnet-4-5"]
    assert "lane 'coding' default" in decision["reasoning"]
    assert decision["estimated_cost_usd"] > 0


def test_route_review_and_design_follow_the_rules(workdir: Path) -> None:
    _run("init")
    review = json.loads(_run("route", "review", "--json")[1])
    assert review["model"] == "anthropic/claude-sonnet-4-5"
    design = json.loads(
        _run("route", "coding", "--phase", "design", "--complexity", "high", "--json")[1]
    )
    assert design["model"] == "anthropic/claude-opus-4-5"
    assert design["rule_index"] == 0
    assert design["explanation"][0]["matched"] is True


def test_route_metadata_and_budget_options(workdir: Path) -> None:
    _run("init")
    code, out = _run("route", "coding", "--budget", "0.0001", "--metadata", "team=x", "--json")
    assert code == 0
    decision = json.loads(out)
    assert "budget" in decision["reasoning"]
    code, out = _run("route", "coding", "--metadata", "nokey")
    assert code == 1
    assert "key=value" in out


def test_init_refuses_to_overwrite_without_force(workdir: Path) -> None:
    _run("init")
    (workdir / "laneway.yaml").write_text("# mine\n")
    code, out = _run("init")
    assert code == 1
    assert "--force" in out
    assert (workdir / "laneway.yaml").read_text() == "# mine\n"
    assert _run("init", "--force")[0] == 0
    assert "planning" in (workdir / "laneway.yaml").read_text()


def test_route_without_a_file_uses_the_builtin_default(workdir: Path) -> None:
    code, out = _run("route", "coding")
    assert code == 0
    assert "local/echo" in out
    assert "<built-in default>" in out


def test_bad_config_gives_a_short_message_and_no_traceback(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text("lanes:\n  coding: {primary: gpt-4}\n")
    code, out = _run("route", "coding", "--config", "bad.yaml")
    assert code == 1
    assert "lanes.coding.primary" in out
    assert "fix:" in out
    assert "Traceback" not in out


def test_unknown_lane_is_a_short_error(workdir: Path) -> None:
    _run("init")
    code, out = _run("route", "nope")
    assert code == 1
    assert "unknown lane 'nope'" in out
    assert "Traceback" not in out


def test_laneway_config_variable_selects_the_file(workdir: Path) -> None:
    (workdir / "elsewhere.yaml").write_text(
        "providers: {local: {kind: local}}\nlanes: {solo: {primary: local/echo}}\n"
    )
    code, out = _run("route", "solo", env={"LANEWAY_CONFIG": "elsewhere.yaml"})
    assert code == 0
    assert "elsewhere.yaml" in out


def test_entry_point_prints_errors_and_exits_one(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from laneway.cli.main import main

    monkeypatch.setattr("sys.argv", ["laneway", "route", "coding", "--config", "missing.yaml"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert "missing.yaml: config file not found" in err
    assert "laneway init" in err
    assert "Traceback" not in err
