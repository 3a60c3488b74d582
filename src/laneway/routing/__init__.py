"""Routing: which model serves a task, and why. Pure policies over the resolved config.

`load_routing_provider(config)` picks the router the config asks for:

- `routing.method: null`, or nothing to decide (no rules, no lane with a
  fallback or a budget): `NullRoutingProvider`, the lane's primary alone;
- `static`: `StaticRoutingProvider`, rules then budget-aware selection;
- `llm_enhanced`: the static router for now; the routing-model layer wraps it
  (`routing/llm_enhanced.py`) and falls back to it on any failure.
"""

from __future__ import annotations

from laneway.config.model import Config
from laneway.routing.base import RoutingProvider
from laneway.routing.null import NullRoutingProvider
from laneway.routing.static import StaticRoutingProvider


def load_routing_provider(config: Config) -> RoutingProvider:
    """The router for `config`; construction precomputes per lane what it can."""
    routing = config.spec.routing
    if routing.method == "null" or not _has_choices(config):
        return NullRoutingProvider(config)
    return StaticRoutingProvider(config)


def _has_choices(config: Config) -> bool:
    if config.rules:
        return True
    return any(lane.fallback or lane.spec.budget for lane in config.lanes.values())


__all__ = [
    "NullRoutingProvider",
    "RoutingProvider",
    "StaticRoutingProvider",
    "load_routing_provider",
]
