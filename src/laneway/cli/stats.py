"""`laneway stats`: what the audit log says about lanes, models and routing.

laneway stats [--since 1d] [--by lane|model|provider] [--routing] [--json] [--html report.html]
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from laneway.audit.query import GROUPINGS, GroupStats, RoutingStats, routing_stats, summarize
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.report import render_report
from laneway.audit.store import AuditStore, RequestFilter
from laneway.cli.config_source import ConfigOption
from laneway.cli.logs import JsonOption, UrlOption, console, since_ts, with_store
from laneway.clock import SystemClock


def register(app: typer.Typer) -> None:
    app.command("stats", short_help="Requests, fallbacks, errors, latency and spend.")(
        stats_command
    )


def stats_command(
    routing: Annotated[bool, typer.Option("--routing", help="Decision statistics too.")] = False,
    since: Annotated[str | None, typer.Option(help="Only the last 30m, 1h, 2d...")] = None,
    by: Annotated[
        str, typer.Option(help="Group by lane_model, lane, model or provider.")
    ] = "lane_model",
    as_json: JsonOption = False,
    html: Annotated[Path | None, typer.Option("--html", help="Write a report page here.")] = None,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Per lane and model: requests, share, fallback rate, errors, latency, tokens, spend."""
    if by not in GROUPINGS:
        raise typer.BadParameter(f"choose one of {', '.join(GROUPINGS)}", param_hint="--by")
    start = since_ts(since)

    async def fetch(store: AuditStore) -> tuple[list[RequestRow], list[RoutingEventRow]]:
        rows = await store.select_requests(RequestFilter(since_ts=start))
        return rows, await store.select_events(since_ts=start)

    rows, events = with_store(url, config, fetch)
    groups = summarize(rows, by)
    decisions = routing_stats(rows, events) if routing else None
    out = console()
    if html is not None:
        page = render_report(
            rows, events, title="laneway report", generated_ts=SystemClock().wall()
        )
        html.write_text(page, encoding="utf-8")
        Console(stderr=True).print(f"wrote {html}", highlight=False)
        return  # the page holds the tables: they are not printed as well
    if as_json:
        data: dict[str, Any] = {
            "requests": len(rows),
            "groups": [dataclasses.asdict(g) for g in groups],
        }
        if decisions is not None:
            data["routing"] = dataclasses.asdict(decisions)
        out.out(json.dumps(data, sort_keys=True), highlight=False)
        return
    out.print(_groups_table(groups, by))
    if decisions is not None:
        _print_routing(out, decisions)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _groups_table(groups: list[GroupStats], by: str) -> Table:
    table = Table(
        by.replace("_", " + "),
        "requests",
        "share",
        "fallback",
        "errors",
        "p50 ms",
        "p95 ms",
        "tokens in",
        "tokens out",
        "spend USD",
    )
    for g in groups:
        errors = ", ".join(f"{code} {n}" for code, n in g.error_codes.items())
        table.add_row(
            g.key,
            str(g.requests),
            f"{g.share:.0%}",
            f"{g.fallback_rate:.0%}",
            errors,
            _ms(g.p50_ms),
            _ms(g.p95_ms),
            str(g.tokens_in),
            str(g.tokens_out),
            f"{g.cost_usd:.4f}",
        )
    return table


def _counts_table(title: str, counts: dict[str, int], total: int) -> Table:
    table = Table(title, "count", "share", title=title)
    for name, count in counts.items():
        table.add_row(name, str(count), f"{count / total:.0%}" if total else "-")
    return table


def _print_routing(out: Console, stats: RoutingStats) -> None:
    out.print(_counts_table("decided model", stats.decided_models, stats.decisions))
    out.print(_counts_table("served model", stats.served_models, sum(stats.served_models.values())))
    out.print(_counts_table("rule fired", stats.rules, stats.decisions))
    calls = sum(stats.routing_calls.values())
    out.print(_counts_table("routing call", stats.routing_calls, calls))
    out.print(
        f"fallbacks: {stats.fallbacks} of {stats.decisions} ({stats.fallback_rate:.0%}); "
        f"guard stops: {stats.guard_stops}; "
        f"budget-driven downgrades: {stats.budget_downgrades}; "
        f"llm_enhanced routing: {calls} calls, {stats.routing_cost_usd:.6f} USD, "
        f"p50 {_ms(stats.routing_p50_ms)} ms",
        highlight=False,
    )
    if stats.breaker_openings:
        out.print(_counts_table("breaker opened", stats.breaker_openings, 0))
