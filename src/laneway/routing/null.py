"""The router of last resort: the lane's primary, nothing else.

Used when routing is switched off (`routing: {method: null}`) or when the
config gives a router nothing to decide (no rules, no fallbacks, no budgets).
Each lane's decision is built once, at construction; `route` is a lookup.
"""

from __future__ import annotations

from laneway.config.model import Config
from laneway.types import RoutingDecision, TaskContext

REASONING = "No routing configured — using lane default"


class NullRoutingProvider:
    uses_input_tokens = False

    def __init__(self, config: Config) -> None:
        self._config = config
        self._decisions = {
            name: RoutingDecision(
                model=lane.primary, fallback_chain=(), reasoning=REASONING, method="null"
            )
            for name, lane in config.lanes.items()
        }

    def route(
        self, ctx: TaskContext, *, input_tokens: int | None = None, max_tokens: int | None = None
    ) -> RoutingDecision:
        try:
            return self._decisions[ctx.lane]
        except KeyError:
            self._config.lane(ctx.lane)  # raises the ConfigError naming the known lanes
            raise
