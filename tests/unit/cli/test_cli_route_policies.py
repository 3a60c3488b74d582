"""`laneway route` with `policies:`: the decision after them, and every verdict per candidate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.policies import replace
from laneway.types import ModelInfo, TaskContext

CONFIG = """\
providers:
  local: {{kind: local}}
  cloud:
    kind: fake
    models:
      opus-4: {{price: {{input: 15, output: 75}}}}
      cheap: {{price: {{input: 0.5, output: 2}}}}
lanes:
  coding: {{primary: local/echo, fallback: [cloud/opus-4, cloud/cheap]}}
  planning: {{primary: cloud/opus-4}}
audit: {{enabled: false}}
policies:
  - name: private-stays-local
    when: {{tags: [private]}}
    allow_providers: [local]
  - name: opus-for-planning-only
    when: {{lane_not: [planning], key: [batch]}}
    deny_models: ["cloud/opus-*"]
  - name: swap
    hook: {module}:swap_opus
"""


def swap_opus(ctx: TaskContext, candidate: ModelInfo) -> object:
    return replace("cloud/cheap", "opus is booked") if candidate.ref.model == "opus-4" else None


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "laneway.yaml"
    path.write_text(CONFIG.format(module=__name__), encoding="utf-8")
    return path


def route(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["route", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_json_shows_the_decision_after_policies_with_every_verdict(config_file: Path) -> None:
    data = route("coding", "--tag", "private", "--config", str(config_file))
    assert data["model"] == "local/echo"  # as routed
    policies = data["policies"]
    assert isinstance(policies, dict)
    assert (policies["model"], policies["fallback_chain"], policies["denied"]) == (
        "local/echo",
        [],
        False,
    )
    rows = [(r["candidate"], r["policy"], r["verdict"]) for r in policies["evaluations"]]
    assert rows == [
        ("local/echo", "private-stays-local", "allow"),
        ("local/echo", "opus-for-planning-only", "not_applicable"),
        ("local/echo", "swap", "allow"),
        ("cloud/opus-4", "private-stays-local", "deny"),
        ("cloud/opus-4", "opus-for-planning-only", "not_applicable"),
        ("cloud/opus-4", "swap", "not_reached"),
        ("cloud/cheap", "private-stays-local", "deny"),
        ("cloud/cheap", "opus-for-planning-only", "not_applicable"),
        ("cloud/cheap", "swap", "not_reached"),
    ]


def test_a_hook_replacement_and_a_key_condition_show(config_file: Path) -> None:
    data = route("coding", "--key", "batch", "--config", str(config_file))
    policies = data["policies"]
    assert isinstance(policies, dict)
    assert policies["fallback_chain"] == ["cloud/cheap"]
    by_candidate = {
        (r["candidate"], r["policy"]): (r["verdict"], r["reason"], r["replacement"])
        for r in policies["evaluations"]
    }
    assert by_candidate[("cloud/opus-4", "opus-for-planning-only")][0] == "deny"
    data = route("planning", "--config", str(config_file))
    policies = data["policies"]
    assert isinstance(policies, dict)
    assert policies["model"] == "cloud/cheap"
    swap = [r for r in policies["evaluations"] if r["policy"] == "swap"]
    assert (swap[0]["candidate"], swap[0]["verdict"], swap[0]["replacement"]) == (
        "cloud/opus-4",
        "replace",
        "cloud/cheap",
    )


def test_explain_prints_a_table_and_a_denial(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["route", "planning", "--tag", "private", "--explain", "--config", str(config_file)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "policies evaluated" in result.output
    assert "policies denied every candidate (private-stays-local)" in result.output
    assert "provider 'cloud' is not allowed (allowed: local)" in result.output


def test_check_shows_a_policy_warning(tmp_path: Path) -> None:
    path = tmp_path / "laneway.yaml"
    path.write_text(
        "providers: {local: {kind: local}}\n"
        "lanes: {coding: {primary: local/echo}}\n"
        "audit: {enabled: false}\n"
        "policies:\n"
        "  - {name: a, deny_models: ['cloud/x*']}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check", "--config", str(path)], env={"COLUMNS": "300"})
    assert "warning:" in result.output
    assert "deny_models entry 'cloud/x*' matches no configured model" in result.output
