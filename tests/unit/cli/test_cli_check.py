"""`laneway check`: credentials present or named, lanes served, exit 0 or 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LANEWAY_CONFIG", "ANTHROPIC_API_KEY", "ZAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    return tmp_path / "laneway.yaml"


def test_missing_glm_key_names_provider_and_variable(example: Path) -> None:
    result = CliRunner().invoke(app, ["check"], env={"ANTHROPIC_API_KEY": "sk-ant-secret"})
    assert result.exit_code == 1
    out = " ".join(result.output.split())  # rich wraps long lines
    assert "provider 'zai'" in out
    assert "ZAI_API_KEY" in out
    assert "provider 'anthropic'" not in out
    assert "sk-ant-secret" not in result.output
    assert "Traceback" not in result.output


def test_all_keys_present_exits_zero_without_printing_them(example: Path) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-secret", "ZAI_API_KEY": "zai-secret"}
    result = CliRunner().invoke(app, ["check", "--config", str(example)], env=env)
    assert result.exit_code == 0, result.output
    assert "all good" in result.output
    assert "sk-ant-secret" not in result.output
    assert "zai-secret" not in result.output


def test_custom_provider_names_its_interpolated_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers:\n  glm: {kind: openai_compatible, base_url: 'http://x/v1', "
        "api_key: '${MY_GLM_KEY}'}\nlanes:\n  a: {primary: glm/glm-4.7}\n"
    )
    result = CliRunner().invoke(app, ["check", "--config", str(config)], env={"MY_GLM_KEY": ""})
    assert result.exit_code == 1
    assert "MY_GLM_KEY" in " ".join(result.output.split())


def test_lane_requirements_are_shown(example: Path) -> None:
    env = {"ANTHROPIC_API_KEY": "a", "ZAI_API_KEY": "z"}
    result = CliRunner().invoke(app, ["check"], env=env)
    assert "tools" in result.output
    assert "safety" in result.output


def test_invalid_config_exits_one_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers:\n  x: {kind: nope}\n")
    result = CliRunner().invoke(app, ["check", "--config", str(bad)])
    assert result.exit_code == 1
    assert "providers.x.kind" in result.output
    assert "Traceback" not in result.output


def test_live_probe_runs_through_the_adapters(tmp_path: Path) -> None:
    """`--live` calls `Adapter.probe()`; the in-process kinds answer without any network."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers: {f: {kind: fake}, local: {kind: local}}\n"
        "lanes: {a: {primary: f/m, fallback: [local/echo]}}\n"
    )
    result = CliRunner().invoke(app, ["check", "--live", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "live: f ok" in result.output
    assert "live: local ok" in result.output
