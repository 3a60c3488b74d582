"""The event-stream parser against the WHATWG rules, fed in arbitrary pieces.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation:
lines end in CRLF, LF or CR; `data:` lines join with LF; `event:` names the
event; a blank line dispatches; `:` lines are comments.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laneway.http.sse import MAX_PENDING_BYTES, Event, SseError, SseParser

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30
)
events = st.lists(
    st.tuples(
        st.sampled_from(["", "message_start", "delta"]), st.lists(texts, min_size=1, max_size=3)
    ),
    max_size=6,
)


def encode(stream: list[tuple[str, list[str]]], newline: str, comment: bool) -> bytes:
    out = []
    for name, lines in stream:
        if comment:
            out.append(": keep-alive" + newline)
        if name:
            out.append(f"event: {name}{newline}")
        out.extend(f"data: {line}{newline}" for line in lines)
        out.append(newline)
    return "".join(out).encode()


@given(events, st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(), st.data())
def test_events_are_the_same_however_the_bytes_are_split(
    stream: list[tuple[str, list[str]]], newline: str, comment: bool, data: st.DataObject
) -> None:
    raw = encode(stream, newline, comment)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    parser = SseParser()
    got: list[Event] = []
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        got += parser.feed(raw[start:end])
    got += parser.feed(b"\n\n")
    assert got == [(name or "message", "\n".join(lines)) for name, lines in stream]


def test_a_cr_at_the_end_of_a_piece_waits_for_a_possible_lf() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r\n") == [("message", "a")]


def test_one_lf_chunk_with_every_kind_of_block() -> None:
    """The usual framing is cut by blocks; the rest of a chunk still follows the rules."""
    raw = (
        b"data: plain\n\n"
        b"data:no-space\n\n"
        b": keep-alive\n\n"
        b"event: delta\ndata: named\n\n"
        b"data: two\ndata: lines\n\n"
        b"data: partial"
    )
    parser = SseParser()
    assert parser.feed(raw) == [
        ("message", "plain"),
        ("message", "no-space"),
        ("delta", "named"),
        ("message", "two\nlines"),
    ]
    assert parser.pending
    assert parser.feed(b"\n\n") == [("message", "partial")]


def test_a_long_line_in_many_chunks_is_held_not_rescanned_and_still_one_event() -> None:
    """A chunk with no line end completes nothing; the chunks of a 1 MB line are joined
    once, when its end arrives (joining and scanning them again with each chunk was
    quadratic: a 10 MB line stalled the loop for seconds)."""
    parser = SseParser()
    line = b"data: " + b"x" * 1_000_000
    events = []
    for start in range(0, len(line), 1024):
        events += parser.feed(line[start : start + 1024])
    assert events == []
    assert parser.pending
    events += parser.feed(b"\n\n")
    assert [len(data) for _, data in events] == [1_000_000]


def test_an_event_past_the_limit_is_an_sse_error() -> None:
    parser = SseParser()
    chunk = b"x" * (1024 * 1024)
    for _ in range(MAX_PENDING_BYTES // len(chunk)):
        assert parser.feed(chunk) == []
    with pytest.raises(SseError, match="passed"):
        parser.feed(chunk)
