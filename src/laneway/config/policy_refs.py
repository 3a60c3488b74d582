"""Load-time checks of `policies:`: what must be right (errors) and what looks wrong (warnings).

Errors, like the rest of the config, name the file, the YAML path with its
line, and the fix: a duplicate policy name, an unknown lane, a model glob
without its provider, a hook that cannot be imported. A glob that matches no
model laneway knows of, or a provider or client key that is not configured,
is only a warning: it may name a model pinned at run time, or a provider
added later.

A hook is imported here, once: a typo fails the load, not the first request.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from laneway.config.schema import ConfigSpec, PolicySpec
from laneway.config.yaml_reader import PathKey
from laneway.errors import ConfigError
from laneway.types import ModelRef

ErrorAt = Callable[[str, PathKey, str], ConfigError]
Where = Callable[[PathKey], str]


@dataclass
class PolicyRefs:
    """What the check produced: hooks by their `module:callable` text, and warnings."""

    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def check_policies(
    spec: ConfigSpec,
    lanes: Iterable[str],
    models: Iterable[ModelRef],
    *,
    error: ErrorAt,
    where: Where,
) -> PolicyRefs:
    """Check every policy against the lanes, providers, keys and models of the config."""
    refs = PolicyRefs()
    lane_names = sorted(lanes)
    known = [str(ref) for ref in models]
    key_names = {key.name for key in spec.server.keys if key.name}
    seen: dict[str, int] = {}
    for index, policy in enumerate(spec.policies):
        base: PathKey = ("policies", index)
        if policy.name in seen:
            raise error(
                f"policy name {policy.name!r} is used twice (also policies[{seen[policy.name]}])",
                (*base, "name"),
                "give each policy its own name: the audit log and the trace count by it",
            )
        seen[policy.name] = index
        _check_lanes(policy, base, lane_names, error)
        warn = _Warner(refs.warnings, where, policy.name)
        for name in policy.when.key or ():
            if name not in key_names:
                warn(f"client key {name!r} is not among server.keys names", (*base, "when", "key"))
        for field_name in ("allow_providers", "deny_providers"):
            for name in getattr(policy, field_name) or ():
                if name not in spec.providers:
                    warn(f"provider {name!r} is not configured", (*base, field_name))
        for field_name in ("allow_models", "deny_models"):
            for position, glob in enumerate(getattr(policy, field_name) or ()):
                path = (*base, field_name, position)
                _check_glob(glob, path, error)
                if not any(fnmatch.fnmatchcase(model, glob) for model in known):
                    warn(f"{field_name} entry {glob!r} matches no configured model", path)
        if policy.hook is not None:
            refs.hooks[policy.hook] = load_hook(policy.hook, (*base, "hook"), error)
    return refs


class _Warner:
    def __init__(self, warnings: list[str], where: Where, policy: str) -> None:
        self._warnings = warnings
        self._where = where
        self._policy = policy

    def __call__(self, message: str, path: PathKey) -> None:
        self._warnings.append(f"{self._where(path)}: policy {self._policy!r}: {message}")


def _check_lanes(policy: PolicySpec, base: PathKey, lanes: list[str], error: ErrorAt) -> None:
    for field_name in ("lane", "lane_not"):
        for name in getattr(policy.when, field_name) or ():
            if name not in lanes:
                raise error(
                    f"policy {policy.name!r} names unknown lane {name!r}",
                    (*base, "when", field_name),
                    f"use one of the lanes ({', '.join(lanes) or 'none'}) "
                    "or add the lane under `lanes:`",
                )


def _check_glob(glob: str, path: PathKey, error: ErrorAt) -> None:
    provider, sep, model = glob.partition("/")
    if not sep or not provider or not model:
        raise error(
            f"model glob {glob!r} does not name its provider",
            path,
            f"write provider/model, e.g. '*/{glob}' for any provider or 'openai/{glob}'",
        )


def load_hook(text: str, path: PathKey, error: ErrorAt) -> Callable[..., Any]:
    """Import `module:callable`; every failure is a ConfigError naming the hook and the fix."""
    module_name, _, attribute = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(
            f"hook {text!r}: module {module_name!r} cannot be imported ({type(exc).__name__})",
            path,
            "install the module or put its directory on PYTHONPATH; write module:callable",
        ) from None
    except Exception as exc:  # the module's own code failed while importing
        raise error(
            f"hook {text!r}: importing {module_name!r} raised {type(exc).__name__}",
            path,
            "fix the module so that it imports cleanly",
        ) from None
    hook: Any = getattr(module, attribute, None)
    if hook is None or not callable(hook):
        what = "is not callable" if hook is not None else "does not exist"
        raise error(
            f"hook {text!r}: {module_name}.{attribute} {what}",
            path,
            f"define `def {attribute}(ctx, candidate)` in {module_name}",
        )
    checked: Callable[..., Any] = hook
    return checked
