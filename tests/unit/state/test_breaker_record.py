"""The breaker's reference transitions, as pure functions over a record and `now`."""

from __future__ import annotations

from laneway.state.base import BreakerOp, BreakerParams
from laneway.state.breaker_record import CLOSED, BreakerRecord, apply

PARAMS = BreakerParams(failure_threshold=3, window_s=10.0, open_s=5.0, probe_timeout_s=5.0)


def run(ops: list[tuple[BreakerOp, float]], record: BreakerRecord = CLOSED) -> BreakerRecord:
    for op, now in ops:
        record, _ = apply(record, op, now, PARAMS)
    return record


def test_failures_keep_at_most_the_threshold_of_recent_timestamps() -> None:
    record = run([("failure", 0.0), ("failure", 11.0)])
    assert record.state == "closed"
    assert record.failures == (11.0,)  # the failure at 0 fell out of the 10 s window


def test_third_failure_opens_and_forgets_the_run() -> None:
    record = run([("failure", 0.0), ("failure", 1.0), ("failure", 2.0)])
    assert record == BreakerRecord(state="open", opened_at=2.0)


def test_admit_while_closed_does_not_write_a_record() -> None:
    record, outcome = apply(CLOSED, "admit", 0.0, PARAMS)
    assert record is CLOSED
    assert (outcome.allowed, outcome.probe, outcome.changed) == (True, False, False)


def test_open_to_half_open_marks_the_probe_time() -> None:
    opened = BreakerRecord(state="open", opened_at=100.0)
    record, outcome = apply(opened, "admit", 105.0, PARAMS)
    assert record.probe_at == 105.0
    assert (outcome.old, outcome.new, outcome.probe) == ("open", "half_open", True)


def test_release_outside_half_open_changes_nothing() -> None:
    opened = BreakerRecord(state="open", opened_at=1.0)
    assert apply(opened, "release", 2.0, PARAMS)[0] is opened
    assert apply(CLOSED, "release", 2.0, PARAMS)[0] is CLOSED


def test_threshold_of_one_opens_on_the_first_failure() -> None:
    params = BreakerParams(failure_threshold=1)
    record, outcome = apply(CLOSED, "failure", 0.0, params)
    assert (record.state, outcome.changed) == ("open", True)
