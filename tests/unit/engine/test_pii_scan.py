"""The e-mail scan is linear in the text, and finds what it found before it was made so.

Model output can echo a client's prompt, so the scan's input is the client's: a
search that restarts inside a run of local-part characters rescanned the run from
every position (60 KB of letters and an "@" held the event loop for 5 s).
"""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st

from laneway.engine import pii

#: the pattern before the look-behind: the oracle for what counts as an address
_UNANCHORED = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@given(st.text(alphabet="ab.-+@ x1", max_size=60))
def test_the_anchored_pattern_finds_an_address_exactly_when_the_old_one_did(text: str) -> None:
    assert (pii._EMAIL.search(text) is None) == (_UNANCHORED.search(text) is None)
    assert pii.has_email(text) == bool(_UNANCHORED.search(text))


def test_hostile_runs_scan_in_linear_time() -> None:
    """A complexity guard, not a speed target: at 2 MB the quadratic scan took hours
    (5 s at 60 KB, times 1,100); the linear one takes well under a second."""
    for text in ("a" * 2_000_000 + "@", "a@" + "b." * 1_000_000):
        started = time.perf_counter()
        assert pii.scan(text, phones=False) == []
        assert time.perf_counter() - started < 20
    assert [f.kind for f in pii.scan("x" * 100_000 + " ada@example.org")] == ["email"]
