"""Which lanes a config can serve right now, and for those it cannot, why.

`laneway serve` prints this at start so that an operator learns of a missing
key from the terminal, not from a client's 503. It reads only the config and
the environment: no provider is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from laneway.config.model import Config


@dataclass(frozen=True, slots=True)
class LaneReadiness:
    """`servable` lists the lane's models that have credentials and its capabilities."""

    lane: str
    servable: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return bool(self.servable)


def lane_readiness(config: Config, env: Mapping[str, str]) -> list[LaneReadiness]:
    from laneway.cli.check import provider_report

    reports = {pid: provider_report(config, pid, env) for pid in config.providers}
    result: list[LaneReadiness] = []
    for name, lane in config.lanes.items():
        servable: list[str] = []
        problems: list[str] = []
        for ref in lane.candidates:
            report = reports.get(ref.provider)
            missing = lane.requires - config.model_info(ref).capabilities
            if report is None:
                problems.append(f"{ref}: no provider {ref.provider!r}")
            elif not report.present:
                problems.extend(p for p in report.problems if p not in problems)
            elif missing:
                problems.append(f"{ref} lacks {', '.join(sorted(missing))}")
            else:
                servable.append(str(ref))
        result.append(LaneReadiness(name, tuple(servable), tuple(problems)))
    return result


def print_readiness(console: Console, lanes: list[LaneReadiness]) -> None:
    """One line per lane: green with the models that can serve it, red with what to set."""
    for lane in lanes:
        line = Text(f"  {lane.lane}: ")
        if lane.ready:
            line.append("ready", style="green")
            line.append(f" ({', '.join(lane.servable)})", style="dim")
        else:
            line.append("cannot be served", style="bold red")
            line.append(f": {'; '.join(lane.problems)}")
        console.print(line, soft_wrap=True, highlight=False)
    blocked = [lane.lane for lane in lanes if not lane.ready]
    if blocked:
        console.print(
            Text(
                f"requests to {', '.join(blocked)} will get 503 not_configured "
                "until that is set and the server restarted",
                style="yellow",
            ),
            soft_wrap=True,
        )
