"""The lane's total deadline and the per-attempt cap, read against an explicit `now`."""

from __future__ import annotations

from laneway.resilience.deadline import Deadline


def test_remaining_counts_down_and_never_goes_negative() -> None:
    deadline = Deadline(start=100.0, total_s=10.0, attempt_s=4.0)
    assert deadline.remaining(100.0) == 10.0
    assert deadline.remaining(107.5) == 2.5
    assert deadline.remaining(200.0) == 0.0


def test_attempt_budget_is_the_cap_until_less_remains() -> None:
    deadline = Deadline(start=0.0, total_s=10.0, attempt_s=4.0)
    assert deadline.attempt_budget(1.0) == 4.0
    assert deadline.attempt_budget(8.0) == 2.0
    assert deadline.attempt_budget(11.0) == 0.0


def test_expired_exactly_at_the_end() -> None:
    deadline = Deadline(start=5.0, total_s=1.0, attempt_s=1.0)
    assert not deadline.expired(5.999)
    assert deadline.expired(6.0)
    assert deadline.elapsed(5.5) == 0.5
