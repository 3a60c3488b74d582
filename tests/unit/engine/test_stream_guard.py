"""The stream's PII guard scans each delta only where a new match can be, and still
finds whatever a scan of the whole text finds."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from laneway.engine import pii
from laneway.engine.stream_guard import StreamPiiGuard
from laneway.engine.validation import OutputPolicy

POLICY = OutputPolicy(pii_emails=True, pii_phones=True)


def _run(pieces: list[str], policy: OutputPolicy = POLICY) -> tuple[str, bool]:
    """What the guard released, and whether it found a leak."""
    guard = StreamPiiGuard(policy)
    sent: list[str] = []
    for piece in pieces:
        ready = guard.feed(piece)
        if ready is None:
            return "".join(sent), True
        sent.append(ready)
    sent.append(guard.flush())
    return "".join(sent), False


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(cut, len(text)) for cut in cuts} | {0, len(text)})
    return [text[a:b] for a, b in pairwise(points)]


def test_a_phone_number_split_across_deltas_is_withheld() -> None:
    sent, leaked = _run(["Call me on +44 20 ", "79", "46 0", "958 after ", "six."])
    assert leaked
    assert "79" not in sent


def test_a_number_glued_to_a_word_is_not_a_phone_wherever_the_deltas_cut_it() -> None:
    """The phone scan starts just before each delta, with the earlier text as look-behind
    context: a slice there would make `1234567890123` of `id x1234567890123` look like
    a phone number."""
    text = "the id is x1234567890123456 and the build is ab12345678901 " * 4
    assert not pii.scan(text)
    for size in (1, 2, 3, 5, 7, 11):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert _run(pieces) == (text, False)


def test_text_is_released_only_a_window_behind_and_in_order() -> None:
    guard = StreamPiiGuard(POLICY)
    assert guard.feed("a" * 90) == ""
    assert guard.feed("b" * 10) == "a" * 4  # 100 arrived, the last 96 held
    assert guard.feed("c" * 300) == "a" * 86 + "b" * 10 + "c" * 204
    assert guard.flush() == "c" * 96
    assert guard.flush() == ""


def test_the_phone_pattern_never_matches_more_than_its_reach() -> None:
    longest = "+(1234) " + "1" + "2" * 18 + "3"
    match = re.compile(r"\+?(?:\(\d{1,4}\)[\s.-]?)?\d[\d\s().-]{6,18}\d").match(longest)
    assert match is not None
    assert len(match.group(0)) == pii.PHONE_REACH


WORDS = st.sampled_from(["alpha", "beta", "gamma", "the", "of", "code", "x_y", "a.b", "(a)"])
NUMBERS = st.sampled_from(["2024", "3.11.7", "$12.50", "x1234567890123", "v2", "10%", "1-2"])
LEAKS = st.sampled_from(
    ["jane.doe@example.com", "+44 20 7946 0958", "(555) 123-4567", "555.123.4567", "0791 234 5678"]
)


@st.composite
def texts(draw: st.DrawFn) -> tuple[str, str | None]:
    """Words with numbers between them (never two numbers side by side) and maybe one leak."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        parts.append(draw(WORDS))
        if draw(st.booleans()):
            parts.append(draw(NUMBERS))
    leak = draw(st.none() | LEAKS)
    if leak is not None:
        # words around it: a number right after a phone number makes one digit run
        # too long to be a phone number (the scan's rule, streamed or not)
        parts.insert(draw(st.integers(0, len(parts))), f"at {leak} or")
    separator = draw(st.sampled_from([" ", "\n", ", "]))
    return separator.join(parts), leak


@given(texts(), st.lists(st.integers(0, 400), max_size=60))
def test_the_guard_finds_what_a_whole_text_scan_finds(
    case: tuple[str, str | None], cuts: list[int]
) -> None:
    text, leak = case
    assert bool(pii.scan(text)) == (leak is not None)  # the generator's own promise
    sent, leaked = _run(_split(text, cuts))
    assert leaked == (leak is not None)
    if leak is None:
        assert sent == text
    else:
        assert leak not in sent
