"""How long to wait before retrying the same model.

Exponential backoff, capped, with optional *full jitter* (a uniform draw in
`[0, delay]`, as in AWS's "Exponential Backoff and Jitter"). Jitter is off by
default so runs are reproducible; when on, the random source is injected so
tests can seed it. Pure: no clock, no sleep — the engine sleeps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from laneway.config.schema import BackoffSpec


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """`delay_s(n)` = min(max_s, base_s * multiplier ** (n - 1)) for the n-th retry."""

    base_s: float = 0.5
    multiplier: float = 2.0
    max_s: float = 8.0
    jitter: bool = False
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_spec(cls, spec: BackoffSpec, *, rng: random.Random | None = None) -> BackoffPolicy:
        """Build from config; pass `rng` (e.g. `random.Random(seed)`) to make jitter repeatable."""
        if spec.jitter and rng is None:
            rng = random.Random()
        return cls(spec.base_s, spec.multiplier, spec.max_s, spec.jitter, rng)

    def delay_s(self, retry: int) -> float:
        """The wait before retry number `retry` (1 for the first retry)."""
        ceiling = self._ceiling_s(max(1, retry))
        if not self.jitter:
            return ceiling
        rng = self.rng if self.rng is not None else random.Random()
        return rng.uniform(0.0, ceiling)

    def _ceiling_s(self, retry: int) -> float:
        # Multiply step by step and stop at the cap, so huge retry numbers never overflow.
        delay = self.base_s
        for _ in range(retry - 1):
            if delay >= self.max_s:
                break
            delay *= self.multiplier
        return min(delay, self.max_s)
