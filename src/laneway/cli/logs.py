"""`laneway logs`: recent requests from the audit log, one request in full, and retention.

    laneway logs [--lane L --status S --model M --since 1h --limit 50 --json]
    laneway logs show REQUEST_ID [--json]
    laneway logs prune --older-than 30d

The store comes from `--url`, else the config (`--config`, `$LANEWAY_CONFIG`,
`./laneway.yaml`), else `sqlite:///laneway.db`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from laneway.audit.backends import open_for_reading
from laneway.audit.query import parse_duration, served_model
from laneway.audit.records import RequestRow, RoutingEventRow
from laneway.audit.store import AuditStore, RequestFilter
from laneway.cli.config_source import ConfigOption, locate_audit_store
from laneway.clock import SystemClock
from laneway.errors import ConfigError, LanewayError

T = TypeVar("T")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", "--db", help="Audit store URL, e.g. sqlite:///laneway.db; overrides config."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines for scripts.")]


def register(app: typer.Typer) -> None:
    logs_app = typer.Typer(help="Recent requests from the audit log.", no_args_is_help=False)
    logs_app.callback(invoke_without_command=True)(list_command)
    logs_app.command("show")(show_command)
    logs_app.command("prune")(prune_command)
    app.add_typer(logs_app, name="logs")


def console() -> Console:
    """Wide when piped, so ids and models are never cut in half."""
    return Console() if sys.stdout.isatty() else Console(width=200, soft_wrap=True)


def with_store(
    url: str | None, config: Path | None, work: Callable[[AuditStore], Awaitable[T]]
) -> T:
    """Open the configured store, run `work`, close; errors become a message and exit code 1."""

    async def run() -> T:
        store = await open_for_reading(locate_audit_store(url=url, config=config, env=os.environ))
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(run())
    except LanewayError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from exc


def age_cutoff(age: str, option: str) -> float:
    """Now minus `age` ("30m", "2d"), as a usage error naming `option` when unreadable."""
    try:
        return SystemClock().wall() - parse_duration(age)
    except ConfigError as exc:
        raise typer.BadParameter(f"{exc.message} ({exc.hint})", param_hint=option) from exc


def since_ts(since: str | None) -> float | None:
    return None if since is None else age_cutoff(since, "--since")


def format_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def row_dict(row: RequestRow) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    data["attempts"] = row.attempt_list()
    data["decision_fallback_chain"] = row.fallback_chain() if row.decision_fallback_chain else None
    data["trace"] = row.trace_list()
    data["extra"] = row.extra_dict() or None
    return data


def list_command(
    ctx: typer.Context,
    lane: Annotated[str | None, typer.Option(help="Only this lane.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. failed.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Only this model (provider/model or model).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only the last 30m, 1h, 2d...")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Recent requests, one line each: time, id, lane, model, status, code, ms, cost."""
    if ctx.invoked_subcommand is not None:
        return
    query = RequestFilter(
        since_ts=since_ts(since), lane=lane, status=status, model=model, limit=limit
    )
    rows = with_store(url, config, lambda store: store.select_requests(query))
    out = console()
    if as_json:
        for row in rows:
            out.out(json.dumps(row_dict(row), sort_keys=True), highlight=False)
        return
    table = Table("time (UTC)", "request", "lane", "model", "status", "code", "ms", "cost USD")
    for row in rows:
        table.add_row(
            format_ts(row.ts),
            row.request_id,
            row.lane,
            served_model(row),
            row.status,
            row.error_code or "",
            "-" if row.duration_ms is None else f"{row.duration_ms:.0f}",
            "-" if row.cost_usd is None else f"{row.cost_usd:.6f}",
        )
    out.print(table)


def show_command(
    request_id: Annotated[str, typer.Argument(help="The request id (from `laneway logs`).")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """One request in full: fields, trace, attempts and routing events."""

    async def fetch(store: AuditStore) -> tuple[list[RequestRow], list[RoutingEventRow]]:
        rows = await store.select_requests(RequestFilter(request_id=request_id))
        return rows, await store.select_events(request_ids=[request_id])

    rows, events = with_store(url, config, fetch)
    if not rows:
        Console(stderr=True).print(f"[red]error:[/red] no request {request_id!r} in the audit log")
        raise typer.Exit(1)
    out = console()
    if as_json:
        data = row_dict(rows[0]) | {"events": [_event_dict(e) for e in events]}
        out.out(json.dumps(data, sort_keys=True), highlight=False)
        return
    _print_request(out, rows[0], events)


def _event_dict(event: RoutingEventRow) -> dict[str, Any]:
    return dataclasses.asdict(event) | {"detail": event.detail_dict()}


def _print_request(out: Console, row: RequestRow, events: list[RoutingEventRow]) -> None:
    fields = row_dict(row)
    for name in ("attempts", "trace", "extra"):
        fields.pop(name)
    for name, value in fields.items():
        if value is not None:
            out.print(f"[bold]{name}[/bold]: {value}", highlight=False)
    out.print("[bold]trace[/bold]: " + " -> ".join(row.trace_list()), highlight=False)
    attempts = Table("model", "code", "attempt", "ms", "retried", "skipped", title="attempts")
    for a in row.attempt_list():
        attempts.add_row(
            *(
                str(a.get(k, ""))
                for k in ("model", "code", "attempt", "elapsed_ms", "retried", "skipped")
            )
        )
    out.print(attempts)
    table = Table(
        "time (UTC)", "kind", "model", "code", "ms", "cost USD", "detail", title="routing events"
    )
    for e in events:
        table.add_row(
            format_ts(e.ts),
            e.kind,
            e.model or "",
            e.code or "",
            "" if e.elapsed_ms is None else f"{e.elapsed_ms:.0f}",
            "" if e.cost_usd is None else f"{e.cost_usd:.6f}",
            json.dumps(e.detail_dict(), sort_keys=True),
        )
    out.print(table)


def prune_command(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Delete requests older than 30d, 12h...")
    ],
    config: ConfigOption = None,
    url: UrlOption = None,
) -> None:
    """Delete requests and routing events older than the given age."""
    cutoff = age_cutoff(older_than, "--older-than")
    deleted = with_store(url, config, lambda store: store.prune(cutoff))
    console().print(
        f"pruned {deleted} requests older than {format_ts(cutoff)} UTC", highlight=False
    )
