"""`laneway logs` and `laneway stats` over a recorded run (see audit_scenario.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import typer
from audit_scenario import T0, record_run
from typer.testing import CliRunner

from laneway.cli import logs, stats


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("audit") / "run.db"
    asyncio.run(record_run(path))
    return f"sqlite:///{path}"  # an absolute path: sqlite:////tmp/...


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    logs.register(app)
    stats.register(app)
    return app


def invoke(app: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_stats_routing_json_shows_the_recorded_distribution(
    cli: typer.Typer, recorded: str
) -> None:
    data = json.loads(invoke(cli, "stats", "--routing", "--json", "--url", recorded))
    routing = data["routing"]
    assert data["requests"] == 12
    assert routing["decided_models"] == {"anthropic/opus": 10, "zai/glm": 2}
    assert routing["served_models"] == {"anthropic/opus": 6, "zai/glm": 5}
    assert routing["rules"] == {"static rule 0": 10, "llm_enhanced (no rule)": 2}
    assert routing["fallbacks"] == 4  # 3 served by glm + 1 that tried glm and failed
    assert routing["budget_downgrades"] == 1
    assert routing["routing_calls"] == {"used": 1, "cached": 1}
    assert routing["routing_cost_usd"] == pytest.approx(0.001)
    assert routing["breaker_openings"] == {"anthropic/opus": 1}


def test_stats_groups_by_lane_and_model(cli: typer.Typer, recorded: str) -> None:
    data = json.loads(invoke(cli, "stats", "--json", "--by", "lane", "--url", recorded))
    coding = next(g for g in data["groups"] if g["key"] == "coding")
    assert (coding["requests"], coding["fallbacks"]) == (10, 4)
    assert coding["share"] == pytest.approx(10 / 12)
    assert coding["error_codes"] == {"timeout": 1}
    # sorted: 450 x3, 800, 900, 1000, 1100, 1200, 1300, 6000; nearest rank 5 and 10
    assert coding["p50_ms"] == 900.0
    assert coding["p95_ms"] == 6000.0
    assert coding["cost_usd"] == pytest.approx(6 * 0.01 + 4 * 0.002)
    table = invoke(cli, "stats", "--routing", "--url", recorded)
    assert "coding anthropic/opus" in table
    assert "budget-driven downgrades: 1" in table


def test_logs_lists_newest_first_with_filters(cli: typer.Typer, recorded: str) -> None:
    lines = invoke(cli, "logs", "--json", "--limit", "3", "--url", recorded).splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["plan-1", "plan-0", "bad-0"]
    failed = invoke(cli, "logs", "--status", "failed", "--json", "--url", recorded).splitlines()
    assert [json.loads(line)["error_code"] for line in failed] == ["timeout"]
    by_model = invoke(cli, "logs", "--model", "glm", "--lane", "coding", "--url", recorded)
    assert "fb-0" in by_model
    assert "ok-0" not in by_model


def test_logs_show_prints_trace_attempts_and_events(cli: typer.Typer, recorded: str) -> None:
    data = json.loads(invoke(cli, "logs", "show", "fb-1", "--json", "--url", recorded))
    assert data["trace"] == ["anthropic/opus:rate_limit", "zai/glm:success"]
    assert data["decision_fallback_chain"] == ["zai/glm"]
    assert [a["code"] for a in data["attempts"]] == ["rate_limit", "success"]
    assert data["events"] == []  # the decision and attempts live on the request row
    assert data["user_id"] is None
    assert len(data["user_hash"]) == 64
    text = invoke(cli, "logs", "show", "fb-1", "--url", recorded)
    assert "anthropic/opus:rate_limit -> zai/glm:success" in text
    assert "decision_fallback_chain" in text


def test_logs_show_unknown_request_and_missing_store_fail_clearly(
    cli: typer.Typer, recorded: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["logs", "show", "nope", "--url", recorded])
    assert result.exit_code == 1
    assert "no request 'nope'" in result.output
    missing = CliRunner().invoke(cli, ["logs", "--url", f"sqlite:///{tmp_path}/none.db"])
    assert missing.exit_code == 1
    assert "no audit log at" in missing.output
    assert not (tmp_path / "none.db").exists()


def test_logs_store_comes_from_the_config_file(cli: typer.Typer, tmp_path: Path) -> None:
    asyncio.run(record_run(tmp_path / "data" / "audit.db"))
    config = tmp_path / "laneway.yaml"
    config.write_text("audit: {url: 'sqlite:///data/audit.db'}\n", encoding="utf-8")
    out = invoke(cli, "logs", "--json", "--limit", "1", "--config", str(config))
    assert json.loads(out)["request_id"] == "plan-1"


def test_logs_prune_deletes_old_requests(cli: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "run.db"
    asyncio.run(record_run(path))
    out = invoke(cli, "logs", "prune", "--older-than", "1d", "--url", f"sqlite:///{path}")
    assert "pruned 12 requests" in out  # the scenario is from 2023
    assert invoke(cli, "logs", "--json", "--url", f"sqlite:///{path}") == ""
    assert T0 < 1_800_000_000


def test_stats_html_writes_only_the_file(cli: typer.Typer, recorded: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["stats", "--html", str(page), "--url", recorded])
    assert result.exit_code == 0, result.output
    assert "anthropic/opus" not in result.stdout  # no table on stdout
    assert f"wrote {page}" in result.stderr
    assert 'id="stats-table"' in page.read_text()


def test_stats_routing_prints_guard_stops(cli: typer.Typer, recorded: str) -> None:
    assert "guard stops: 0" in invoke(cli, "stats", "--routing", "--url", recorded)
