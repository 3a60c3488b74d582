"""`laneway check`: is the config valid, are the keys there, can every lane be served?

Offline by default: it reads the environment and the config, never calls a
provider and never prints a secret (only where each key comes from). `--live`
also asks each provider whose key is present for a cheap authenticated call
(`Adapter.probe`). Exit 0 when everything is in place, 1 otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from laneway.cli.config_source import ConfigOption, environment, load_cli_config

if TYPE_CHECKING:
    from laneway.config.credentials import Credential, CredentialStatus
    from laneway.config.model import Config, Lane


@dataclass(frozen=True, slots=True)
class ProviderReport:
    provider_id: str
    kind: str
    base_url: str
    sources: str
    present: bool
    problems: tuple[str, ...]


def register(app: typer.Typer) -> None:
    app.command("check", short_help="Is the config valid, are keys set, lanes servable?")(
        check_command
    )


def check_command(
    config: ConfigOption = None,
    live: Annotated[
        bool, typer.Option("--live", help="Also make one cheap authenticated call per provider.")
    ] = False,
) -> None:
    """Validate the config, its credentials and its lanes; exit 1 on any problem."""
    env = environment()
    loaded = load_cli_config(config, env)
    console = Console()
    console.print(Text(f"config {loaded.source}: valid", style="green"))
    for path, var in loaded.overrides.items():
        console.print(Text(f"  {path} overridden by {var}", style="dim"))
    reports = [provider_report(loaded, pid, env) for pid in loaded.providers]
    console.print(_providers_table(reports))
    lane_problems = {
        name: lane_problems_of(loaded, lane, reports) for name, lane in loaded.lanes.items()
    }
    console.print(_lanes_table(loaded, lane_problems))
    problems = [p for r in reports for p in r.problems]
    if live:
        problems += _live_probe(loaded, env, [r for r in reports if r.present], console)
    for problem in problems:
        console.print(Text(f"✗ {problem}", style="red"), soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print(Text("all good", style="bold green"))


def provider_report(config: Config, provider_id: str, env: Mapping[str, str]) -> ProviderReport:
    from laneway.config.credentials import check_credential, credentials_for
    from laneway.config.presets import preset_for

    spec = config.providers[provider_id]
    preset = preset_for(spec.kind, getattr(spec, "preset", None))
    base_url = spec.base_url or (preset.base_url if preset else "") or "-"
    credentials = credentials_for(provider_id, spec)
    statuses = [check_credential(c, env) for c in credentials]
    problems = tuple(_problem(config, provider_id, s) for s in statuses if not s.present)
    sources = ", ".join(_source(config, provider_id, c) for c in credentials)
    return ProviderReport(
        provider_id, spec.kind, base_url, sources, present=not problems, problems=problems
    )


def _source(config: Config, provider_id: str, credential: Credential) -> str:
    if not credential.required:
        return "none needed"
    variables = config.env_refs.get(f"providers.{provider_id}.api_key", ())
    if credential.source == "config" and credential.profile == "default" and variables:
        return "config: " + ", ".join(f"${{{v}}}" for v in variables)
    return credential.source


def _problem(config: Config, provider_id: str, status: CredentialStatus) -> str:
    """The credential's own problem, naming the variable an interpolation expected."""
    text = status.problem or f"provider {provider_id!r}: credentials missing"
    variables = config.env_refs.get(f"providers.{provider_id}.api_key", ())
    missing = [v for v in variables if v not in text]
    if missing:
        text += f"; set the environment variable {', '.join(missing)}"
    return text


def lane_problems_of(config: Config, lane: Lane, reports: list[ProviderReport]) -> list[str]:
    """Why some of a lane's models cannot serve it: missing capability or missing key."""
    keyless = {r.provider_id for r in reports if not r.present}
    problems: list[str] = []
    for ref in lane.candidates:
        missing = lane.requires - config.model_info(ref).capabilities
        if missing:
            problems.append(f"{ref} lacks {', '.join(sorted(missing))}")
    without_key = [p for p in dict.fromkeys(r.provider for r in lane.candidates) if p in keyless]
    if without_key:
        problems.append(f"no key for {', '.join(without_key)}")
    return problems


def _providers_table(reports: list[ProviderReport]) -> Table:
    table = Table(title="providers", title_justify="left")
    for column in ("provider", "kind", "base url", "credentials", "present"):
        table.add_column(column)
    for r in reports:
        present = Text("yes", style="green") if r.present else Text("no", style="red")
        table.add_row(r.provider_id, r.kind, r.base_url, r.sources, present)
    return table


def _lanes_table(config: Config, problems: Mapping[str, list[str]]) -> Table:
    table = Table(title="lanes", title_justify="left")
    for column in ("lane", "models", "requires", "status"):
        table.add_column(column)
    for name, lane in config.lanes.items():
        models = " → ".join(str(ref) for ref in lane.candidates)
        requires = ", ".join(sorted(lane.requires)) or "-"
        lane_problems = problems[name]
        status = (
            Text("; ".join(lane_problems), style="yellow")
            if lane_problems
            else Text("ok", style="green")
        )
        table.add_row(name, models, requires, status)
    return table


def _live_probe(
    config: Config, env: Mapping[str, str], reports: list[ProviderReport], console: Console
) -> list[str]:
    """One `probe()` per provider with a key; the problems found."""
    results = asyncio.run(_probe_all(config, env, [r.provider_id for r in reports]))
    urls = {r.provider_id: r.base_url for r in reports}
    problems: list[str] = []
    for provider_id, error in results.items():
        if error is None:
            via = _via(config, env, provider_id, urls.get(provider_id, "-"))
            console.print(Text(f"live: {provider_id} ok{via}", style="green"))
        else:
            problems.append(f"live: {error}")
    return problems


def _via(config: Config, env: Mapping[str, str], provider_id: str, base_url: str) -> str:
    """` (via proxy X)` when the provider's calls go through a proxy, else nothing."""
    from laneway.http import UpstreamSettings
    from laneway.http.settings import proxy_for, shown_proxy

    if "://" not in base_url:
        return ""
    settings = config.upstream.get(provider_id, UpstreamSettings())
    proxy = proxy_for(base_url, settings, env)
    return f" (via proxy {shown_proxy(proxy)})" if proxy else ""


async def _probe_all(
    config: Config, env: Mapping[str, str], provider_ids: list[str]
) -> dict[str, str | None]:
    from laneway.clock import SystemClock
    from laneway.errors import LanewayError
    from laneway.http import TransportPool, UpstreamSettings, default_transport
    from laneway.providers import build_adapter
    from laneway.providers.base import AdapterDeps

    pool = TransportPool(lambda settings: default_transport(settings, env=env))
    results: dict[str, str | None] = {}
    try:
        for provider_id in provider_ids:
            catalog = {r.model: i for r, i in config.catalog.items() if r.provider == provider_id}
            settings = config.upstream.get(provider_id, UpstreamSettings())
            deps = AdapterDeps(
                transport=pool.get(settings), clock=SystemClock(), env=env, catalog=catalog
            )
            adapter = build_adapter(provider_id, config.providers[provider_id], deps)
            try:
                await adapter.probe()
                results[provider_id] = None
            except LanewayError as exc:
                results[provider_id] = str(exc) + live_fix(provider_id, exc)
            finally:
                await adapter.aclose()
    finally:
        await pool.aclose()
    return results


def live_fix(provider_id: str, exc: BaseException) -> str:
    """What to change for a failed live call, by what the transport said went wrong."""
    from laneway.http import TransportError

    cause = exc.__cause__
    if not isinstance(cause, TransportError):
        return ""
    where = f"providers.{provider_id}"
    fixes = {
        "tls": f"set {where}.tls.ca_file (or tls.ca_file for every provider) to the PEM "
        "file of the CA that signed the server's certificate",
        "proxy": f"check {where}.proxy, the global proxy: or HTTPS_PROXY; list hosts that "
        "must go direct in NO_PROXY, or set proxy: direct",
        "redirect": f"change {where}.base_url as the message says; laneway never follows "
        "a redirect",
    }
    fix = fixes.get(cause.kind)
    if fix is None and cause.kind == "network":
        fix = (
            f"check {where}.base_url; behind a proxy, set HTTPS_PROXY (or proxy:) so "
            "laneway goes through it"
        )
    return f"\n  fix: {fix}" if fix else ""
