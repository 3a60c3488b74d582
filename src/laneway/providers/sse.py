"""Server-sent events, parsed incrementally from the bytes of a streaming response.

Follows the WHATWG event-stream rules that every provider here uses: lines
end in LF, CRLF or CR; `event:` and `data:` fields; a blank line dispatches;
`:` lines are comments (keep-alives). Multi-line data is joined with LF.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            line, found = self._take_line()
            if not found:
                return events
            event = self._process(line)
            if event is not None:
                events.append(event)

    @property
    def pending(self) -> bool:
        return bool(self._data or self._buffer.strip())

    def _take_line(self) -> tuple[str, bool]:
        for index, byte in enumerate(self._buffer):
            if byte in (0x0A, 0x0D):
                end = index + 1
                if byte == 0x0D:
                    if end == len(self._buffer):
                        return "", False  # wait: a CR may be the first half of CRLF
                    if self._buffer[end] == 0x0A:
                        end += 1
                line = self._buffer[:index].decode("utf-8", errors="replace")
                self._buffer = self._buffer[end:]
                return line, True
        return "", False

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


async def iter_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    parser = SseParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.feed(b"\n\n"):
        yield event
