"""How many refusals the audit log records when a flood of them arrives.

Every request the server refuses (401, 429, ...) gets a `rejected` row, up to
`audit.refusals_per_s` a second (a token bucket holding one second's worth,
so a short burst is kept whole). Past it, refusals are sampled out: counted
per reason, summed up in one summary row every `audit.refusal_summary_s`, and
exported as a metric. Why: a client hammering the server with bad keys must
not turn the audit writer into the bottleneck of the requests that are
served, nor grow the log without bound. Served requests are never sampled.
"""

from __future__ import annotations

from laneway.clock import Clock


class RefusalSampler:
    """A token bucket over refusals, with the counts of what it sampled out."""

    def __init__(self, *, per_s: float, summary_every_s: float, clock: Clock) -> None:
        self._per_s = per_s
        self._summary_every_s = summary_every_s
        self._clock = clock
        now = clock.monotonic()
        self._tokens = per_s
        self._refilled_at = now
        self._summary_at = now
        self._pending: dict[str, int] = {}  # sampled out since the last summary, by reason
        #: sampled out since start, by reason (the metric)
        self.sampled_out: dict[str, int] = {}

    def admit(self, reason: str) -> bool:
        """Whether this refusal gets its own row; else it is counted under `reason`."""
        now = self._clock.monotonic()
        tokens = min(self._per_s, self._tokens + (now - self._refilled_at) * self._per_s)
        self._refilled_at = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        self._pending[reason] = self._pending.get(reason, 0) + 1
        self.sampled_out[reason] = self.sampled_out.get(reason, 0) + 1
        return False

    def summary(self, *, force: bool = False) -> tuple[dict[str, int], float] | None:
        """The counts sampled out since the last summary and the seconds they cover, once
        `summary_every_s` has passed (or now, with `force`); None when there is none due."""
        if not self._pending:
            return None
        now = self._clock.monotonic()
        covered_s = now - self._summary_at
        if not force and covered_s < self._summary_every_s:
            return None
        counts, self._pending = self._pending, {}
        self._summary_at = now
        return counts, covered_s
