"""The seam every router implements: a task context in, a decision out.

Routers are pure: no I/O, no clock, no event loop. The same config and the same
context always give the same decision, so a decision can be explained, cached
and tested without a provider.
"""

from __future__ import annotations

from typing import Protocol

from laneway.types import RoutingDecision, TaskContext


class RoutingProvider(Protocol):
    #: False when `route` ignores `input_tokens`, so callers skip estimating it
    uses_input_tokens: bool

    def route(
        self, ctx: TaskContext, *, input_tokens: int | None = None, max_tokens: int | None = None
    ) -> RoutingDecision:
        """The model to try first and its fallback chain, with the reasoning.

        `input_tokens` bounds the prompt's size and `max_tokens` its answer (the
        client's, when set), for cost estimates; without them the router assumes
        a typical prompt and the lane's or model's output bound.
        Raises `ConfigError` for an unknown lane.
        """
        ...
