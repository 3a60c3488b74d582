"""`laneway route LANE`: the routing decision for a task, without calling any model.

Prints the chosen model, its fallback chain, the reasoning and the estimated
cost; `--explain` adds every rule evaluated and why it matched or not;
`--json` prints the same as one JSON object for scripts. With `policies:`
configured, the decision after them follows (`--explain`: every policy per
candidate; see `route_policies.py`). With
`routing.method: llm_enhanced` the routing model is asked (see
`route_enhanced.py`); `--explain` shows its prompt and reply, `--dry-run`
calls nothing and prints the prompt.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from laneway.cli import route_enhanced, route_policies
from laneway.cli.config_source import ConfigOption, environment, load_cli_config
from laneway.errors import ConfigError
from laneway.types import Capability, Complexity, RoutingDecision, TaskContext

if TYPE_CHECKING:
    from laneway.config.model import Config


def register(app: typer.Typer) -> None:
    app.command("route")(route_command)


def route_command(
    lane: Annotated[str, typer.Argument(help="The lane, e.g. planning or coding.")],
    phase: Annotated[str | None, typer.Option(help="Task phase, e.g. plan.")] = None,
    complexity: Annotated[Complexity | None, typer.Option(help="low, medium or high.")] = None,
    budget: Annotated[
        float | None, typer.Option(help="Remaining budget for this task, in USD.")
    ] = None,
    description: Annotated[str | None, typer.Option(help="What the task is.")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="Context metadata key=value.")
    ] = None,
    requires: Annotated[
        list[Capability] | None, typer.Option(help="A capability the task needs.")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="Job id.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A task tag (policies match them).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="The client-key name, for policies' `key`.")
    ] = None,
    input_tokens: Annotated[
        int | None, typer.Option(help="Prompt size estimate, for the cost estimate.")
    ] = None,
    explain: Annotated[bool, typer.Option(help="Show every rule evaluated and why.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    dry_run: Annotated[
        bool, typer.Option(help="llm_enhanced: call no model; print the prompt it would get.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Show which model a task in LANE would get, and why."""
    from laneway.routing import load_routing_provider

    loaded = load_cli_config(config)
    ctx = TaskContext(
        lane=lane,
        phase=phase,
        complexity=complexity,
        job_id=job,
        budget_remaining_usd=budget,
        description=description,
        requires=frozenset(requires or ()),
        metadata=parse_metadata(metadata or []),
        tags=frozenset(tag or ()),
        client_key=key,
    )
    enhanced = None
    if route_enhanced.is_enhanced(loaded):
        enhanced = route_enhanced.consult_for_cli(
            loaded, ctx, input_tokens=input_tokens, dry_run=dry_run, env=environment()
        )
        decision = enhanced.decision
    else:
        decision = load_routing_provider(loaded).route(ctx, input_tokens=input_tokens)
    policies = route_policies.review_for_cli(loaded, ctx, decision, input_tokens)
    if as_json:
        data = decision_to_dict(lane, decision)
        if enhanced is not None:
            data["llm_enhanced"] = route_enhanced.enhanced_to_dict(enhanced)
        if policies is not None:
            data["policies"] = route_policies.policy_to_dict(policies)
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console()
    _print_decision(console, lane, decision, loaded)
    if explain:
        _print_explanation(console, decision, loaded)
    if enhanced is not None and (explain or dry_run):
        route_enhanced.print_enhanced(console, enhanced)
    if policies is not None:
        route_policies.print_policies(console, policies, explain=explain)


def parse_metadata(items: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--metadata {item!r} is not key=value", hint="write e.g. --metadata team=core"
            )
        pairs[key.strip()] = value.strip()
    return pairs


def decision_to_dict(lane: str, decision: RoutingDecision) -> dict[str, Any]:
    return {
        "lane": lane,
        "model": str(decision.model),
        "fallback_chain": [str(ref) for ref in decision.fallback_chain],
        "reasoning": decision.reasoning,
        "method": decision.method,
        "estimated_cost_usd": decision.estimated_cost_usd,
        "rule_index": decision.rule_index,
        "explanation": [
            {
                "index": e.index,
                "when": dict(e.conditions),
                "matched": e.matched,
                "why": e.why,
                "model": None if e.model is None else str(e.model),
            }
            for e in decision.explanation
        ],
    }


def _print_decision(console: Console, lane: str, decision: RoutingDecision, config: Config) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    cost = decision.estimated_cost_usd
    table.add_row("lane", lane)
    table.add_row("model", Text(str(decision.model), style="bold cyan"))
    chain = " → ".join(str(ref) for ref in decision.fallback_chain) or "(none)"
    table.add_row("fallback", chain)
    table.add_row("method", decision.method)
    table.add_row("reasoning", Text(decision.reasoning))
    table.add_row("est. cost", "unknown (no price)" if cost is None else f"${cost:.4f} per task")
    table.add_row("config", config.source)
    console.print(table)


def _print_explanation(console: Console, decision: RoutingDecision, config: Config) -> None:
    if not config.rules or not decision.explanation:
        why = "no routing rules configured" if not config.rules else "routing rules not used"
        console.print(Text(f"{why} ({decision.method} routing)", style="dim"))
        return
    table = Table(title="rules evaluated", title_justify="left")
    for column in ("#", "when", "model", "result", "why"):
        table.add_column(column)
    for e in decision.explanation:
        when = ", ".join(f"{k}={_show(v)}" for k, v in e.conditions.items())
        result = Text("match", style="green") if e.matched else Text("no", style="dim")
        table.add_row(str(e.index), when, str(e.model or "-"), result, Text(e.why))
    not_reached = len(config.rules) - len(decision.explanation)
    console.print(table)
    if not_reached > 0:
        console.print(
            Text(f"{not_reached} later rule(s) not evaluated: first match wins", style="dim")
        )


def _show(value: object) -> str:
    if isinstance(value, list):
        return "|".join(str(item) for item in value)
    return str(value).lower() if isinstance(value, bool) else str(value)
