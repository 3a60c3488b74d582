"""One total deadline per lane across every retry and fallback, plus a per-attempt cap.

A value, not a timer: it holds when the request began and reads nothing
itself. The engine passes `now` from its clock, so tests move time by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Deadline:
    """`start` on the monotonic clock; `total_s` for the whole request, `attempt_s` per call."""

    start: float
    total_s: float
    attempt_s: float

    @property
    def ends_at(self) -> float:
        return self.start + self.total_s

    def remaining(self, now: float) -> float:
        """Seconds left of the total budget, never negative."""
        return max(0.0, self.ends_at - now)

    def attempt_budget(self, now: float) -> float:
        """How long the next provider call may take: the attempt cap or what is left, if less."""
        return min(self.attempt_s, self.remaining(now))

    def expired(self, now: float) -> bool:
        return now >= self.ends_at

    def elapsed(self, now: float) -> float:
        return max(0.0, now - self.start)
