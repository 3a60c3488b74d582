"""The e-mail scan is linear in the text, and finds what it found before it was made so.

Model output can echo a client's prompt, so the scan's input is the client's: a
search that restarts inside a run of local-part characters rescanned the run from
every position (60 KB of letters and an "@" held the event loop for 5 s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.engine import pii

#: the pattern before the look-behind: the oracle for what counts as an address
_UNANCHORED = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@given(st.text(alphabet="ab.-+@ x1", max_size=60))
def test_the_anchored_pattern_finds_an_address_exactly_when_the_old_one_did(text: str) -> None:
    assert (pii._EMAIL.search(text) is None) == (_UNANCHORED.search(text) is None)
    assert pii.has_email(text) == bool(_UNANCHORED.search(text))


#: the shorter text of each pair; the scan of sixteen times as much is timed against it
N = 5_000
HOSTILE = {
    "local-part-run": lambda n: "a" * n + "@",
    "domain-run": lambda n: "a@" + "b." * (n // 2),
}


def cpu_cost(text: str, runs: int) -> float:
    """The least CPU time of `runs` scans of `text`: the scan least disturbed by the rest
    of the machine. A scan of hostile text finds nothing."""
    costs = []
    for _ in range(runs):
        started = time.process_time()
        assert pii.scan(text, phones=False) == []
        costs.append(time.process_time() - started)
    return min(costs)


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_runs_scan_in_linear_time(hostile: Callable[[int], str]) -> None:
    """A complexity guard, not a speed target: sixteen times the text costs about sixteen
    times the CPU; the quadratic scan cost 256 times as much (and hours at 2 MB).

    The regex engine counts no steps and CI machines offer no instruction counter, so
    this compares the CPU time (this process's, not the wall clock's) of two sizes on
    one machine: a ratio with four times the margin either way, not a time budget.
    """
    small, large = cpu_cost(hostile(N), runs=5), cpu_cost(hostile(16 * N), runs=3)
    assert large < 64 * small, f"16 times the text cost {large / small:.0f} times the CPU"


def test_an_address_after_a_long_run_is_still_found() -> None:
    assert [f.kind for f in pii.scan("x" * 100_000 + " ada@example.org")] == ["email"]
