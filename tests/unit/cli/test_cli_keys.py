"""`laneway keys` and `laneway init --create-key`: a key is shown once, only its digest kept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.config.loader import load_config

CONFIG = """\
providers: {local: {kind: local}}   # a comment that must survive
lanes:
  coding: {primary: local/echo}
  review: {primary: local/echo}
"""


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "laneway.yaml"
    path.write_text(CONFIG)
    return path


def test_create_prints_the_key_once_and_stores_only_its_digest(config: Path) -> None:
    out = invoke(
        "keys", "create", "-c", str(config), "--lanes", "coding", "--rpm", "60",
        "--budget-usd", "5", "--name", "ci", "--json",
    )  # fmt: skip
    created = json.loads(out)
    key = created["key"]
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert created["digest"] == digest
    keys_file = config.parent / "laneway-keys.yaml"
    stored = keys_file.read_text()
    assert key not in stored
    assert digest in stored
    assert keys_file.stat().st_mode & 0o077 == 0  # readable by its owner alone
    assert "# a comment that must survive" in config.read_text()  # the config is appended to
    (spec,) = load_config(config, env={}).spec.server.keys
    assert (spec.name, spec.lanes, spec.rpm, spec.budget_usd) == ("ci", ["coding"], 60, 5.0)
    assert spec.key.get_secret_value() == digest


def test_list_never_shows_a_key_and_revoke_removes_it(config: Path) -> None:
    first = json.loads(invoke("keys", "create", "-c", str(config), "--name", "a", "--json"))
    invoke("keys", "create", "-c", str(config), "--name", "b")
    listed = invoke("keys", "list", "-c", str(config))
    assert first["key"] not in listed
    rows = [
        json.loads(line)
        for line in invoke("keys", "list", "-c", str(config), "--json").splitlines()
    ]
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["digest"].startswith(first["digest"][:19])
    assert "revoked 'a'" in invoke("keys", "revoke", "-c", str(config), "a")
    assert [k.name for k in load_config(config, env={}).spec.server.keys] == ["b"]


def test_bad_requests_name_the_fix(config: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["keys", "create", "-c", str(config), "--lanes", "nope"])
    assert unknown.exit_code == 1
    assert "unknown lane 'nope'" in unknown.output
    assert "coding, review" in unknown.output
    assert runner.invoke(app, ["keys", "create", "-c", str(config), "--rpm", "0"]).exit_code == 2
    missing = runner.invoke(app, ["keys", "revoke", "-c", str(config), "ghost"])
    assert missing.exit_code == 1
    assert "no client key named 'ghost'" in missing.output


def test_a_config_with_a_server_section_is_told_the_line_to_add(tmp_path: Path) -> None:
    path = tmp_path / "laneway.yaml"
    path.write_text(CONFIG + "server: {port: 9000}\n")
    result = CliRunner().invoke(app, ["keys", "create", "-c", str(path)])
    assert result.exit_code == 1
    assert "keys_file: laneway-keys.yaml" in result.output
    assert path.read_text() == CONFIG + "server: {port: 9000}\n"


def test_init_can_create_a_key_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = invoke("init", "--create-key")
    key = next(line.strip() for line in out.splitlines() if line.strip().startswith("lw-"))
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    (spec,) = load_config(tmp_path / "laneway.yaml", env={}).spec.server.keys
    assert spec.key.get_secret_value() == digest
    assert "laneway keys create" not in out


def test_init_without_a_key_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = invoke("init", "--no-create-key")
    assert "laneway keys create" in out
    assert not (tmp_path / "laneway-keys.yaml").exists()
