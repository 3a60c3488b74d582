"""`laneway simulate`: what would the pipeline do if a provider failed? Ask before it does.

    laneway simulate [-c laneway.yaml] [--down anthropic] [--rate-limit zai:50%]
                     [--slow gemini:8s] [--malformed openai:10%] [--auth-fail github]
                     [--requests 100] [--concurrency 4] [--lane coding] [--json]

The engine is the real one; the providers are scripted (see simulation.py).
Exit status 0 whatever the simulated requests did: the report is the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.cli.simulation import (
    Fault,
    FaultKind,
    LaneReport,
    Scenario,
    SimulationReport,
    parse_fault,
    simulate,
)


def register(app: typer.Typer) -> None:
    app.command("simulate", short_help="Run your config against scripted provider faults.")(
        simulate_command
    )


def simulate_command(
    config: ConfigOption = None,
    down: Annotated[
        list[str] | None, typer.Option("--down", help="Provider whose every call fails (503).")
    ] = None,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option("--rate-limit", help="provider:share of calls answered 429, e.g. zai:50%."),
    ] = None,
    slow: Annotated[
        list[str] | None,
        typer.Option("--slow", help="provider:duration of each call, e.g. gemini:8s."),
    ] = None,
    malformed: Annotated[
        list[str] | None,
        typer.Option("--malformed", help="provider:share of answers unreadable, e.g. openai:10%."),
    ] = None,
    auth_fail: Annotated[
        list[str] | None, typer.Option("--auth-fail", help="Provider whose key is refused (401).")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, help="Requests per lane.")] = 100,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 4,
    lane: Annotated[
        list[str] | None, typer.Option("--lane", help="Only this lane (repeat for more).")
    ] = None,
    latency: Annotated[
        float, typer.Option(min=0.0, help="Seconds each healthy provider call takes.")
    ] = 1.0,
    tokens_in: Annotated[int, typer.Option(min=0, help="Input tokens per request.")] = 1000,
    tokens_out: Annotated[int, typer.Option(min=0, help="Output tokens per answer.")] = 300,
    audit_url: Annotated[
        str | None,
        typer.Option("--audit-url", help="Write the simulated requests' audit rows here."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run your config through the real engine with providers faked, under faults."""
    faults = _faults(
        {
            "down": down,
            "rate_limit": rate_limit,
            "slow": slow,
            "malformed": malformed,
            "auth_fail": auth_fail,
        }
    )
    scenario = Scenario(
        requests_per_lane=requests,
        concurrency=concurrency,
        lanes=tuple(lane or ()),
        latency_s=latency,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        faults=faults,
    )
    env = environment()
    loaded = load_cli_config(config, env)
    raw = raw_config(config, env)
    report = asyncio.run(simulate(raw, loaded, env, scenario, audit_url=audit_url))
    if as_json:
        typer.echo(json.dumps(report_dict(report), sort_keys=True))
        return
    print_report(Console(), report, source=loaded.source)


def _faults(given: dict[str, list[str] | None]) -> tuple[Fault, ...]:
    faults: list[Fault] = []
    for kind, values in given.items():
        for value in values or ():
            kind_name: FaultKind = kind  # type: ignore[assignment]
            faults.append(parse_fault(kind_name, value))
    return tuple(faults)


def raw_config(path: Path | None, env: dict[str, str]) -> dict[str, Any]:
    """The config as YAML parsed it (before interpolation), or the built-in default."""
    from laneway.config.defaults import default_config
    from laneway.config.loader import find_config_file
    from laneway.config.yaml_reader import read_yaml

    found = path if path is not None else find_config_file(env)
    if found is None:
        return default_config(env)
    data, _ = read_yaml(found.read_text(encoding="utf-8"), str(found))
    return data if isinstance(data, dict) else {}


def report_dict(report: SimulationReport) -> dict[str, Any]:
    lanes = []
    for lane in report.lanes:
        entry = dataclasses.asdict(lane)
        entry["fallback_rate"] = lane.fallback_rate
        entry["degraded_rate"] = lane.degraded_rate
        entry["failed_rate"] = lane.failed_rate
        lanes.append(entry)
    return {
        "scenario": {
            **{k: v for k, v in dataclasses.asdict(report.scenario).items() if k != "faults"},
            "faults": [str(f) for f in report.scenario.faults],
        },
        "providers": report.providers,
        "lanes": lanes,
        "breaker_openings": report.breaker_openings,
    }


def print_report(console: Console, report: SimulationReport, *, source: str) -> None:
    scenario = report.scenario
    faults = ", ".join(str(f) for f in scenario.faults) or "none"
    console.print(
        Text.assemble(
            ("laneway simulate", "bold"),
            f": {source}, {scenario.requests_per_lane} requests per lane, "
            f"{scenario.concurrency} at a time",
        ),
        highlight=False,
    )
    console.print(Text(f"faults: {faults}"), highlight=False)
    console.print(
        Text("no network call, no real wait: providers are scripted, time is virtual", "dim")
    )
    for lane in report.lanes:
        console.print()
        console.print(_lane_grid(lane))
    if report.breaker_openings:
        opened = ", ".join(f"{m} {n}x" for m, n in report.breaker_openings.items())
        console.print(f"\nbreakers opened: {opened}", highlight=False)


def _lane_grid(lane: LaneReport) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold", min_width=14)
    grid.add_column(overflow="fold")
    grid.add_row(Text(f"lane {lane.lane}", style="bold cyan"), f"{lane.requests} requests")
    served = ", ".join(
        f"{model} {count} ({count / lane.requests:.0%})" for model, count in lane.served.items()
    )
    grid.add_row("  served by", Text(served or "-"))
    grid.add_row(
        "  outcome",
        f"fallback {lane.fallback_rate:.0%}, degraded {lane.degraded_rate:.0%}, "
        f"failed {lane.failed_rate:.0%}",
    )
    grid.add_row("  latency", f"p50 {_seconds(lane.p50_s)}, p95 {_seconds(lane.p95_s)}")
    grid.add_row("  cost", f"${lane.cost_usd:.4f}")
    wasted = ", ".join(f"{what} {n}" for what, n in lane.wasted.items())
    grid.add_row(
        "  wasted calls", Text(f"{lane.wasted_calls}" + (f" ({wasted})" if wasted else ""))
    )
    fired = ", ".join(f"{what} {n}" for what, n in lane.fired.items())
    grid.add_row("  fired", Text(fired or "nothing"))
    return grid


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
