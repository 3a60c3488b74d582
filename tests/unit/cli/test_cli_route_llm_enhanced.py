"""`laneway route` with llm_enhanced routing: the prompt, the reply and why, or a dry run.

The routing model is the in-process `local` provider's `template:` model, so
the CLI's real path (engine, adapter, cache) runs with no network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app

CONFIG = """
providers:
  local:
    kind: local
    templates:
      router: '{reply}'
  work:
    kind: fake
    models:
      strong: {{price: {{input: 5, output: 25}}, capabilities: [tools, streaming]}}
      cheap: {{price: {{input: 0.1, output: 0.4}}, capabilities: [streaming]}}
lanes:
  coding: {{primary: work/cheap, fallback: [work/strong]}}
routing:
  method: llm_enhanced
  llm_enhanced: {{routing_model: local/template:router}}
audit: {{enabled: false}}
"""
GOOD = '{"model": "work/strong", "reasoning": "a compiler is a big job", "estimated_tokens": 900}'


def write_config(tmp_path: Path, reply: str) -> Path:
    path = tmp_path / "laneway.yaml"
    path.write_text(CONFIG.format(reply=reply))
    return path


def run(path: Path, *args: str) -> str:
    argv = ["route", "coding", "--description", "design a compiler", "-c", str(path), *args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANEWAY_CONFIG", raising=False)


def test_explain_shows_prompt_reply_and_that_it_was_used(tmp_path: Path) -> None:
    out = run(write_config(tmp_path, GOOD), "--explain")
    assert "work/strong" in out
    assert "llm_enhanced" in out
    assert "prompt sent" in out
    assert '"description": "design a compiler"' in out
    assert "reply" in out
    assert "a compiler is a big job" in out
    assert "used" in out
    assert "chose work/strong" in out


def test_json_carries_the_routing_call(tmp_path: Path) -> None:
    data = json.loads(run(write_config(tmp_path, GOOD), "--json"))
    assert data["model"] == "work/strong"
    assert data["method"] == "llm_enhanced"
    enhanced = data["llm_enhanced"]
    assert (enhanced["status"], enhanced["reason"]) == ("used", "chose work/strong")
    assert enhanced["reply"] == GOOD
    assert [m["role"] for m in enhanced["prompt"]] == ["system", "user"]


def test_explain_says_why_an_unusable_reply_was_ignored(tmp_path: Path) -> None:
    data = json.loads(run(write_config(tmp_path, "not json at all"), "--json"))
    assert data["model"] == "work/cheap"
    assert data["method"] == "static"
    assert data["llm_enhanced"]["status"] == "ignored"
    assert data["llm_enhanced"]["reason"] == "the reply is not valid JSON"
    assert "llm_enhanced: the reply is not valid JSON" in data["reasoning"]


def test_dry_run_calls_nothing_and_prints_the_prompt(tmp_path: Path) -> None:
    data = json.loads(run(write_config(tmp_path, GOOD), "--dry-run", "--json"))
    assert data["model"] == "work/cheap"  # the static decision: no reply to use
    enhanced = data["llm_enhanced"]
    assert (enhanced["status"], enhanced["reply"]) == ("dry_run", None)
    assert '"description": "design a compiler"' in enhanced["prompt"][1]["content"]
    out = run(write_config(tmp_path, GOOD), "--dry-run")
    assert "prompt sent" in out
    assert "dry run: no call made" in out
    assert "a compiler is a big job" not in out
