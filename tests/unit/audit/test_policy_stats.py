"""Policy denials reach the audit log as `policy` routing events; `stats --routing` counts them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.report import render_report
from laneway.cli import logs, stats
from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.errors import PolicyDeniedError
from laneway.types import CompletionRequest, ModelRef, TaskContext


def audited_config(path: Path) -> dict[str, Any]:
    return {
        "providers": {
            "local": {"kind": "fake"},
            "cloud": {"kind": "fake", "models": {"opus": {"price": {"input": 15, "output": 75}}}},
        },
        "lanes": {"coding": {"primary": "local/small", "fallback": ["cloud/opus"]}},
        "policies": [
            {
                "name": "private-stays-local",
                "when": {"tags": ["private"]},
                "allow_providers": ["local"],
            },
            {"name": "cap", "when": {"phase": "cheap"}, "max_price_usd_per_mtok": {"output": 15}},
        ],
        "audit": {"url": f"sqlite:///{path}"},
    }


async def record(path: Path) -> None:
    async with Gateway.from_config(audited_config(path), env={}, clock=FakeClock()) as gw:
        hi = CompletionRequest.from_prompt("hi")
        private = TaskContext(lane="coding", tags=frozenset({"private"}))
        await gw.complete(hi, private)
        await gw.complete(hi, private)
        await gw.complete(hi, TaskContext(lane="coding", phase="cheap"))
        await gw.complete(hi, TaskContext(lane="coding"))
        pinned = TaskContext(lane="coding", phase="cheap", model=ModelRef("cloud", "opus"))
        with pytest.raises(PolicyDeniedError):
            await gw.complete(hi, pinned)


def test_stats_routing_counts_denials_per_policy(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    asyncio.run(record(path))
    app = typer.Typer()
    logs.register(app)
    stats.register(app)
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(app, ["stats", "--routing", "--json", "--url", url])
    assert result.exit_code == 0, result.output
    routing = json.loads(result.output)["routing"]
    assert routing["policy_denials"] == {"private-stays-local": 2, "cap": 2}
    assert routing["policy_replacements"] == {}
    table = CliRunner().invoke(app, ["stats", "--routing", "--url", url], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "policies" in table.output
    assert "private-stays-local" in table.output


def test_the_html_report_charts_denials_by_policy() -> None:
    rows: list[RequestRow] = []
    events = [
        RoutingEventRow("r1", 1.0, 1, "policy", "cloud/opus", "deny", detail='{"policy": "cap"}'),
        RoutingEventRow("r2", 2.0, 1, "policy", "cloud/opus", "deny", detail='{"policy": "cap"}'),
    ]
    page = render_report(rows, events, title="t", generated_ts=0.0)
    assert 'id="chart-policy"' in page
    assert "cap 1" not in page
    assert "Denials by policy" in page
