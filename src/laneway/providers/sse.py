"""Server-sent events, parsed incrementally from the bytes of a streaming response.

Follows the WHATWG event-stream rules that every provider here uses: lines
end in LF, CRLF or CR; `event:` and `data:` fields; a blank line dispatches;
`:` lines are comments (keep-alives). Multi-line data is joined with LF.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str  # "message" when the stream names none
    data: str


class SseParser:
    """Feed bytes, get complete events; `pending` says whether a partial event is held."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Every event `chunk` completes. Lines are found with `bytes.find` (C speed) and
        the buffer is cut once per feed, not once per line."""
        buffer = self._buffer + chunk if self._buffer else chunk
        events: list[SseEvent] = []
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
            event = self._process(buffer[pos:line_end].decode("utf-8", errors="replace"))
            pos = pos_next
            if event is not None:
                events.append(event)
        self._buffer = buffer[pos:]
        return events

    def end(self) -> list[SseEvent]:
        """The last event of a stream that ended without its closing blank line."""
        return self.feed(b"\n\n")

    @property
    def pending(self) -> bool:
        return bool(self._data or self._buffer.strip())

    def _process(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data))
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
