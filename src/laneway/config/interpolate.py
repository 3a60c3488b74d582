"""`${VAR}` and `${VAR:-default}` in string values, from an environment passed in.

Only values are interpolated, never keys. An unset variable without a default
becomes the empty string (as in Docker Compose), so a missing key shows up in
`laneway check` as "no API key; set VAR" instead of failing the whole load.
`$${` writes a literal `${`. Which variables fed which key path is recorded, so
later messages can name the variable to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from laneway.config.yaml_reader import PathKey, format_path
from laneway.errors import ConfigError

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def interpolate(
    data: Any, env: Mapping[str, str], *, file: str
) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """A copy of `data` with variables replaced, and {key path: variables used}."""
    refs: dict[str, tuple[str, ...]] = {}
    return _walk(data, (), env, refs, file), refs


def _walk(
    value: Any, path: PathKey, env: Mapping[str, str], refs: dict[str, tuple[str, ...]], file: str
) -> Any:
    if isinstance(value, str):
        return _substitute(value, path, env, refs, file) if "$" in value else value
    if isinstance(value, dict):
        return {key: _walk(item, (*path, str(key)), env, refs, file) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, (*path, index), env, refs, file) for index, item in enumerate(value)]
    return value


def _substitute(
    text: str, path: PathKey, env: Mapping[str, str], refs: dict[str, tuple[str, ...]], file: str
) -> str:
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "$${":
            return "${"
        name = match.group(1)
        if name is None:
            raise ConfigError(
                f"malformed variable reference {whole!r}",
                file=file,
                path=format_path(path),
                hint="write ${NAME} or ${NAME:-default}; use $${ for a literal ${",
            )
        used.append(name)
        found = env.get(name)
        if found:
            return found
        return match.group(2) or ""

    result = _PATTERN.sub(replace, text)
    if used:
        refs[format_path(path)] = tuple(used)
    return result
