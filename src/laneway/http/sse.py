"""Server-sent events, parsed incrementally from the bytes of a streaming response.

Follows the WHATWG event-stream rules that every provider here uses: lines
end in LF, CRLF or CR; `event:` and `data:` fields; a blank line dispatches;
`:` lines are comments (keep-alives). Multi-line data is joined with LF.
"""

from __future__ import annotations

from dataclasses import dataclass

# Byte values, not one-byte strings: `b"\n" in data` first tries the operand as an
# integer and formats a TypeError it then discards (docs/performance.md,
# "Measurements behind the code").
_LF, _CR = 0x0A, 0x0D
#: the most one event (its unfinished line) may hold: past it the stream is garbage
MAX_PENDING_BYTES = 32 * 1024 * 1024


class SseError(Exception):
    """The stream is not server-sent events laneway can hold (one event past the bound)."""


#: one event as the parser hands it on: its name ("message" when the stream names none)
#: and its data. A pair, not an object: it is made for every event of every stream.
Event = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event as a value, for the pure parsers that take one (`StateReader`)."""

    event: str  # "message" when the stream names none
    data: str


class SseParser:
    """Feed bytes, get complete events; `pending` says whether a partial event is held."""

    def __init__(self) -> None:
        self._buffer = b""
        self._held: list[bytes] = []  # chunks without any line end, after `_buffer`
        self._held_size = 0
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Every event `chunk` completes.

        The usual framing (LF line ends, one `data: ` line per event, as every
        provider here sends) is cut into events with `bytes.split` (C speed);
        anything else, and any partial event carried over, goes line by line.
        A chunk with no line end completes nothing: it is held, not joined and
        scanned again with each chunk (a 10 MB line in 16 KB chunks was
        quadratic), up to `MAX_PENDING_BYTES`.
        """
        if _LF not in chunk and _CR not in chunk:
            self._held_size += len(chunk)
            if len(self._buffer) + self._held_size > MAX_PENDING_BYTES:
                raise SseError(f"an event of the stream passed {MAX_PENDING_BYTES} bytes")
            self._held.append(chunk)
            return []
        if self._held:
            chunk = b"".join([*self._held, chunk])
            self._held.clear()
            self._held_size = 0
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._data or self._event or _CR in buffer:
            return self._feed_lines(buffer)
        *blocks, rest = buffer.split(b"\n\n")
        events: list[Event] = []
        for block in blocks:
            if block.startswith(b"data: ") and _LF not in block:
                events.append(("message", block[6:].decode("utf-8", "replace")))
            elif block:  # comments, named events, multi-line data, `data:` with no space
                # after it: the general rules
                events += self._feed_lines(block + b"\n\n")
        self._buffer = rest
        return events

    def _feed_lines(self, buffer: bytes) -> list[Event]:
        """Line by line, for any framing. Lines are found with `bytes.find` (C speed) and
        the buffer is cut once per feed, not once per line."""
        events: list[Event] = []
        pos, size = 0, len(buffer)
        while pos < size:
            lf = buffer.find(b"\n", pos)
            cr = buffer.find(b"\r", pos, size if lf < 0 else lf)
            if cr >= 0:  # a CR ends the line; CRLF counts as one ending
                if cr + 1 == size:
                    break  # wait: this CR may be the first half of a CRLF
                line_end, pos_next = cr, cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
            elif lf >= 0:
                line_end, pos_next = lf, lf + 1
            else:
                break
            event = self._process(buffer[pos:line_end].decode("utf-8", "replace"))
            pos = pos_next
            if event is not None:
                events.append(event)
        self._buffer = buffer[pos:]
        return events

    def end(self) -> list[Event]:
        """The last event of a stream that ended without its closing blank line."""
        return self.feed(b"\n\n")

    @property
    def pending(self) -> bool:
        return bool(self._data or self._buffer.strip() or self._held)

    def _process(self, line: str) -> Event | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None
