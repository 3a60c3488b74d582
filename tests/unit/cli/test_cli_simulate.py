"""`laneway simulate`: the real engine on the user's config, providers scripted, time virtual.

The expected tables are worked out from the documented defaults, not recorded:
retries (errors.DEFAULT_RETRY_TABLE: unavailable and rate_limit retried twice),
backoff (0.5 s, doubling), the breaker (opens after 3 consecutive health
failures, stays open 60 s), and each healthy call taking `--latency` (1 s).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.config.loader import load_config
from laneway.types import ModelRef

KEYS = {"ANTHROPIC_API_KEY": "sk-ant-sim", "OPENAI_API_KEY": "sk-sim"}
THREE = """\
providers:
  anthropic: {kind: anthropic, api_key: "${ANTHROPIC_API_KEY}"}
  zai: {kind: openai_compatible, preset: zai, api_key: "${ZAI_API_KEY}"}
  openai: {kind: openai, api_key: "${OPENAI_API_KEY}"}
lanes:
  coding:
    primary: zai/glm-4.7
    fallback: [anthropic/claude-sonnet-4-5, openai/gpt-4.1]
  review: {primary: openai/gpt-4.1}
"""


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no laneway.yaml here: the built-in default
    for var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ZAI_API_KEY", "GEMINI_API_KEY",
                "GITHUB_TOKEN", "OPENROUTER_API_KEY", "LANEWAY_CONFIG"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


def simulate(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", "--json", *args], env=env or KEYS)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def lane(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(entry for entry in data["lanes"] if entry["lane"] == name)


def cost(ref: str, requests: int) -> float:
    """What `requests` answers of 1000 tokens in and 300 out cost at the catalog's price."""
    info = load_config(None, env=KEYS).model_info(ModelRef.parse(ref))
    assert info.price is not None
    return requests * info.price.cost_usd(1000, 300)


def test_built_in_default_with_anthropic_down() -> None:
    """Request 1: Opus fails 3 times (1 + 0.5 + 1 + 1 + 1 s) and its breaker opens; GPT-4.1
    answers (1 s). Requests 2-10 skip Opus (circuit open) and take 1 s."""
    data = simulate("--down", "anthropic", "--requests", "10", "--concurrency", "1",
                    "--lane", "planning")  # fmt: skip
    planning = lane(data, "planning")
    assert planning["served"] == {"openai/gpt-4.1": 10}
    assert (planning["fallback_rate"], planning["degraded_rate"], planning["failed_rate"]) == (
        1.0,
        0.0,
        0.0,
    )
    assert (planning["p50_s"], planning["p95_s"]) == (1.0, 5.5)
    assert planning["wasted"] == {"anthropic/claude-opus-4-5: unavailable": 3}
    assert planning["fired"] == {"circuit_open anthropic/claude-opus-4-5": 9}
    assert planning["cost_usd"] == pytest.approx(cost("openai/gpt-4.1", 10))
    assert data["breaker_openings"] == {"anthropic/claude-opus-4-5": 1}
    assert data["providers"]["anthropic"] == "fake (was anthropic)"
    assert data["providers"]["local"] == "local"


def test_built_in_default_with_half_of_anthropic_rate_limited() -> None:
    """Every second call is a 429: request 1 is clean, requests 2-10 each retry once after
    0.5 s (1 + 0.5 + 1 s). The failure run never reaches 3, so no breaker opens."""
    data = simulate("--rate-limit", "anthropic:50%", "--requests", "10", "--concurrency", "1",
                    "--lane", "planning")  # fmt: skip
    planning = lane(data, "planning")
    assert planning["served"] == {"anthropic/claude-opus-4-5": 10}
    assert planning["fallback_rate"] == 0.0
    assert (planning["p50_s"], planning["p95_s"]) == (2.5, 2.5)
    assert planning["wasted"] == {"anthropic/claude-opus-4-5: rate_limit": 9}
    assert planning["fired"] == {}
    assert planning["cost_usd"] == pytest.approx(cost("anthropic/claude-opus-4-5", 10))
    assert data["breaker_openings"] == {}


def test_three_providers_with_zai_down_and_anthropic_rate_limited(tmp_path: Path) -> None:
    """coding: GLM fails 3 times and opens (5 s wasted before Sonnet's first 1 s answer);
    then every request skips GLM, and every second Sonnet call is a 429 retried once."""
    (tmp_path / "laneway.yaml").write_text(THREE)
    data = simulate("--down", "zai", "--rate-limit", "anthropic:50%", "--requests", "10",
                    "--concurrency", "1", env={})  # fmt: skip
    coding = lane(data, "coding")
    assert coding["served"] == {"anthropic/claude-sonnet-4-5": 10}
    assert coding["fallback_rate"] == 1.0
    assert coding["wasted_calls"] == 12
    assert coding["wasted"] == {
        "zai/glm-4.7: unavailable": 3,
        "anthropic/claude-sonnet-4-5: rate_limit": 9,
    }
    assert coding["fired"] == {"circuit_open zai/glm-4.7": 9}
    assert (coding["p50_s"], coding["p95_s"]) == (2.5, 5.5)
    assert coding["cost_usd"] == pytest.approx(cost("anthropic/claude-sonnet-4-5", 10))
    review = lane(data, "review")  # untouched by the faults
    assert review["served"] == {"openai/gpt-4.1": 10}
    assert (review["wasted_calls"], review["p95_s"]) == (0, 1.0)


def test_slow_is_virtual_and_auth_fail_skips_the_provider(tmp_path: Path) -> None:
    """Request 1: GLM 3 failures (4.5 s), Sonnet refused (1 s), GPT-4.1 8 s: 13.5 s.
    Requests 2-5: GLM skipped, Sonnet refused, GPT-4.1: 9 s each, none waited for."""
    (tmp_path / "laneway.yaml").write_text(THREE)
    data = simulate("--slow", "openai:8s", "--auth-fail", "anthropic", "--down", "zai",
                    "--requests", "5", "--concurrency", "1", "--lane", "coding",
                    env={})  # fmt: skip
    coding = lane(data, "coding")
    assert coding["served"] == {"openai/gpt-4.1": 5}
    assert (coding["p50_s"], coding["p95_s"]) == (9.0, 13.5)
    assert coding["wasted"] == {
        "zai/glm-4.7: unavailable": 3,
        "anthropic/claude-sonnet-4-5: auth": 5,
    }


def test_no_audit_rows_unless_asked(tmp_path: Path) -> None:
    simulate("--requests", "2", "--lane", "planning")
    assert not (tmp_path / "laneway.db").exists()  # the default config's audit file
    db = tmp_path / "sim.db"
    simulate("--requests", "2", "--lane", "planning", "--audit-url", f"sqlite:///{db}")
    assert db.exists()


def test_a_table_for_people(tmp_path: Path) -> None:
    (tmp_path / "laneway.yaml").write_text(THREE)
    result = CliRunner().invoke(
        app,
        ["simulate", "--down", "zai", "--requests", "4", "--concurrency", "1"],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    assert "faults: down zai" in result.output
    assert "fallback 100%, degraded 0%, failed 0%" in result.output
    assert "circuit_open zai/glm-4.7 3" in result.output
    assert all(len(line.rstrip()) <= 80 for line in result.output.splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "zai"], "--rate-limit takes provider:share"),
        (["--slow", "zai:soon"], "--slow takes provider:duration"),
        (["--down", "nope"], "names no provider of this config"),
        (["--down", "local"], "is not simulated"),
        (["--lane", "nope"], "is not a lane of this config"),
    ],
)
def test_bad_faults_name_the_fix(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["simulate", *args], env=KEYS)
    assert result.exit_code == 1
    assert message in result.output
