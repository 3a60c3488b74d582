"""Per-lane environment overrides: change a lane's models without editing the file.

    LANEWAY_LANE_CODING=zai/glm-4.7                    the primary of lane `coding`
    LANEWAY_LANE_CODING_FALLBACK=anthropic/claude-sonnet-4-5,local/echo   its chain

A lane name maps to its variable upper-cased, with every character other than a
letter or digit written `_` (`code-review` -> `LANEWAY_LANE_CODE_REVIEW`). An
exact lane match wins over the `_FALLBACK` suffix, so a lane called
`x_fallback` still works. An empty value counts as unset. A variable naming no
lane is an error: a typo would otherwise silently route to the wrong model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from laneway.errors import ConfigError

PREFIX = "LANEWAY_LANE_"
_SUFFIX = "_FALLBACK"


@dataclass(frozen=True, slots=True)
class LaneOverride:
    primary: str | None = None
    primary_var: str | None = None
    fallback: tuple[str, ...] | None = None
    fallback_var: str | None = None


def env_name(lane: str) -> str:
    """The variable that overrides `lane`'s primary."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]", "_", lane).upper()


def lane_overrides(
    lanes: Iterable[str], env: Mapping[str, str], *, file: str
) -> dict[str, LaneOverride]:
    """{lane: its overrides} for every LANEWAY_LANE_* variable set in `env`."""
    by_var = {env_name(lane): lane for lane in lanes}
    found: dict[str, LaneOverride] = {}
    for var in sorted(env):
        value = env[var].strip()
        if not var.startswith(PREFIX) or not value:
            continue
        if var in by_var:
            lane = by_var[var]
            current = found.get(lane, LaneOverride())
            found[lane] = LaneOverride(value, var, current.fallback, current.fallback_var)
        elif var.endswith(_SUFFIX) and var.removesuffix(_SUFFIX) in by_var:
            lane = by_var[var.removesuffix(_SUFFIX)]
            chain = tuple(item.strip() for item in value.split(",") if item.strip())
            current = found.get(lane, LaneOverride())
            found[lane] = LaneOverride(current.primary, current.primary_var, chain, var)
        else:
            raise _unknown_lane(var, by_var, file)
    return found


def _unknown_lane(var: str, by_var: Mapping[str, str], file: str) -> ConfigError:
    known = ", ".join(sorted(by_var)) or "none (the config has no lanes)"
    return ConfigError(
        f"environment variable {var} names no lane",
        file=file,
        path="lanes",
        hint=f"unset {var}, or use one of: {known} (add _FALLBACK for the chain)",
    )
