"""What a policy hook returns: allow, deny (with a reason) or replace (with another model).

A hook is `module:callable` in the config, called as `hook(ctx, candidate)`
with the `TaskContext` and the candidate's `ModelInfo`; it may be a plain
function or a coroutine function:

    from laneway.policies import allow, deny, replace

    def check(ctx, candidate):
        if "pci" in ctx.tags and candidate.ref.provider != "local":
            return deny("PCI data stays on our servers")
        return allow()
"""

from __future__ import annotations

from dataclasses import dataclass

from laneway.types import ModelRef


@dataclass(frozen=True, slots=True)
class Allow:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Deny:
    reason: str


@dataclass(frozen=True, slots=True)
class Replace:
    """Try `model` (a configured `provider/model`) in the candidate's place."""

    model: ModelRef
    reason: str


HookVerdict = Allow | Deny | Replace

_ALLOW = Allow()


def allow(reason: str = "") -> Allow:
    return _ALLOW if not reason else Allow(reason)


def deny(reason: str) -> Deny:
    return Deny(reason)


def replace(model: str | ModelRef, reason: str) -> Replace:
    """`model` as `provider/model` text or a `ModelRef`."""
    return Replace(model if isinstance(model, ModelRef) else ModelRef.parse(model), reason)


def as_verdict(value: object) -> HookVerdict:
    """A hook's return value as a verdict; anything else denies, saying what came back.

    `None` and `True` allow, `False` denies: the shapes a quick hook is likely to use.
    """
    if isinstance(value, Allow | Deny | Replace):
        return value
    if value is None or value is True:
        return _ALLOW
    if value is False:
        return Deny("the hook returned False")
    return Deny(
        f"the hook returned a {type(value).__name__}, not allow(), deny(reason) "
        "or replace(model, reason)"
    )
