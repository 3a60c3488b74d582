"""`laneway status`: breakers, quarantined credentials, budgets and rate-limit windows now.

Where the state lives decides where it is read:
- a running server's memory (`state.url: memory://`): `--url http://host:port`
  asks its `GET /admin/status` with the admin key (`--admin-key`, else
  `$LANEWAY_ADMIN_KEY`);
- Redis (`state.url: redis://...`): read directly, as every replica shares it
  (per-key spend, counted in each server's memory, needs `--url`).
`--watch` redraws every few seconds until Ctrl-C; `--json` prints the report.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.errors import ConfigError, LanewayError


def register(app: typer.Typer) -> None:
    app.command("status", short_help="Breakers, budgets and rate limits, now.")(status_command)


def status_command(
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running server to ask, e.g. http://127.0.0.1:8080."),
    ] = None,
    admin_key: Annotated[
        str | None,
        typer.Option("--admin-key", help="The server's admin key (default $LANEWAY_ADMIN_KEY)."),
    ] = None,
    watch: Annotated[
        float | None,
        typer.Option("--watch", min=0.5, help="Redraw every this many seconds until Ctrl-C."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """What the state store holds now: breakers, quarantines, budgets, rate-limit windows."""
    env = environment()
    key = admin_key or env.get("LANEWAY_ADMIN_KEY")

    def fetch() -> dict[str, Any]:
        if url is not None:
            return fetch_from_server(url, key)
        return asyncio.run(read_state(config, env))

    if watch is None:
        show(fetch(), as_json=as_json)
        return
    _watch(fetch, watch, as_json=as_json)


def show(report: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
    else:
        Console().print(render(report))


def _watch(fetch: Any, every_s: float, *, as_json: bool) -> None:
    from rich.live import Live

    from laneway.clock import SystemClock

    clock = SystemClock()
    try:
        if as_json:
            while True:
                show(fetch(), as_json=True)
                asyncio.run(clock.sleep(every_s))
        with Live(render(fetch()), auto_refresh=False) as live:
            while True:
                asyncio.run(clock.sleep(every_s))
                live.update(render(fetch()), refresh=True)
    except KeyboardInterrupt:
        return


def fetch_from_server(url: str, admin_key: str | None) -> dict[str, Any]:
    """`GET /admin/status` through laneway's own HTTP client (no proxy for a local server)."""
    return asyncio.run(_fetch(url, admin_key))


async def _fetch(url: str, admin_key: str | None) -> dict[str, Any]:
    from laneway.http import TransportError, default_transport

    headers = {"authorization": f"Bearer {admin_key}"} if admin_key else {}
    target = url.rstrip("/") + "/admin/status"
    transport = default_transport(env={})
    try:
        response = await transport.get(target, headers=headers, timeout_s=10.0)
    except TransportError as exc:
        raise LanewayError(
            f"cannot reach {target} ({exc.kind}); is `laneway serve` running there?"
        ) from None
    finally:
        await transport.aclose()
    if response.status in (401, 403):
        raise LanewayError(
            f"{target} wants the admin key: pass --admin-key or set LANEWAY_ADMIN_KEY "
            "(server.admin_key, or a key with admin: true)"
        )
    if response.status != 200:
        text = response.body[:200].decode("utf-8", "replace")
        raise LanewayError(f"{target} answered {response.status}: {text}")
    report: dict[str, Any] = json.loads(response.body)
    report["source"] = url
    return report


async def read_state(config: Path | None, env: dict[str, str]) -> dict[str, Any]:
    """The report from a shared (Redis) state store named by the config."""
    from laneway.clock import SystemClock
    from laneway.config.store_urls import MEMORY_SCHEMES, state_scheme
    from laneway.server.auth import KeyRing
    from laneway.server.limits import RateLimits
    from laneway.server.status import status_report
    from laneway.state.url import open_state

    loaded = load_cli_config(config, env)
    state_url = loaded.spec.state.url
    if state_scheme(state_url) in MEMORY_SCHEMES:
        raise ConfigError(
            "this config keeps state in a server's memory (state.url: memory://), "
            "which only that server can read",
            hint="ask it: laneway status --url http://127.0.0.1:8080 --admin-key KEY",
        )
    clock = SystemClock()
    state = open_state(state_url)
    limits = RateLimits(state_url, global_rpm=loaded.spec.server.global_rpm, clock=clock)
    try:
        report = await status_report(
            state,
            loaded,
            now=clock.wall(),
            principals=KeyRing.from_spec(loaded.spec.server).principals,
            limits=limits,
        )
    finally:
        await limits.aclose()
        await state.aclose()
    report["source"] = loaded.source
    return report


# -- the picture -----------------------------------------------------------------------


def render(report: dict[str, Any]) -> Group:
    now = float(report.get("now") or 0.0)
    parts: list[Any] = [
        Text.assemble(
            ("laneway status", "bold"),
            f" of {report.get('source', '?')} (state {report.get('state_url', '?')}) ",
            (f"at {_clock(now)} UTC", "dim"),
        )
    ]
    parts.append(_breakers(report.get("breakers") or [], now))
    quarantined = report.get("quarantined_credentials")
    if quarantined is None:
        parts.append(Text("quarantined credentials: not kept by this state store", "dim"))
    elif quarantined:
        parts.append(_rows("quarantined credentials", quarantined))
    else:
        parts.append(Text("quarantined credentials: none"))
    parts.append(_budgets(report.get("budgets") or []))
    if report.get("keys"):
        parts.append(_rows("key budgets", report["keys"]))
    parts.append(_windows(report.get("rate_limits") or [], now))
    return Group(*parts)


def _breakers(rows: list[dict[str, Any]], now: float) -> Table | Text:
    if not rows:
        return Text("breakers: all closed", "green")
    table = Table("model", "state", "next probe", title="breakers", title_justify="left")
    for row in rows:
        state = row["state"]
        style = {"open": "red", "half_open": "yellow"}.get(state, "")
        if state == "open":
            due = float(row["next_probe_at"])
            wait = f"in {due - now:.0f} s" if due > now else "due: the next request probes"
            when = f"{_clock(due)} ({wait})"
        elif state == "half_open":
            when = "probing now"
        else:
            when = f"closed, {row.get('recent_failures', 0)} recent failures"
        table.add_row(row["model"], Text(state, style), when)
    return table


def _budgets(rows: list[dict[str, Any]]) -> Table | Text:
    if not rows:
        return Text("budgets: nothing spent or reserved")
    table = Table("scope", "spent", "reserved", "left", title="budgets", title_justify="left")
    for row in rows:
        left = row.get("left_usd")
        table.add_row(
            row["scope"],
            f"${row['spent_usd']:.4f}",
            f"${row['reserved_usd']:.4f}",
            "no limit" if left is None else f"${left:.4f}",
        )
    return table


def _windows(rows: list[dict[str, Any]], now: float) -> Table | Text:
    if not rows:
        return Text("rate limits: no key has one")
    table = Table("key", "limit", "remaining", "resets", title="rate limits", title_justify="left")
    for row in rows:
        reset = float(row["resets_at"])
        table.add_row(
            row["key"], row["limit"], str(row["remaining"]), f"in {max(0.0, reset - now):.0f} s"
        )
    return table


def _rows(title: str, rows: list[dict[str, Any]]) -> Table:
    columns = list(rows[0])
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*("-" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
