"""Hold back the tail of a stream's text until the PII scan has seen it.

An e-mail address or phone number can arrive split across deltas. The guard
releases text only once it lies more than `window` characters behind the end
of what has arrived, so any match touching released text was whole when it was
scanned. A leak found in held text ends the stream before that text is sent.

Each delta is scanned where a new match could be, not the whole window again:
the phone scan (the costly one) runs only when the delta can complete a phone
number, and only over its reach (`pii.new_phone`). E-mail addresses and
redacted names have no such bound; they are scanned over the window, the
e-mail scan only when the window holds an `@`. Rescanning the window on every
delta was half of what a long stream cost the server (docs/performance.md).
"""

from __future__ import annotations

from laneway.engine.pii import has_email, has_name, new_phone
from laneway.engine.validation import OutputPolicy

#: longer than any e-mail address or phone number the scan looks for
DEFAULT_WINDOW = 96


class StreamPiiGuard:
    """`feed` each text delta, `flush` before anything else goes out and at the end."""

    __slots__ = ("_emails", "_held_from", "_names", "_phones", "_text", "_window", "active")

    def __init__(self, policy: OutputPolicy) -> None:
        self._emails = policy.pii_emails
        self._phones = policy.pii_phones
        self._names = policy.redact
        longest_name = max(map(len, policy.redact)) if policy.redact else 0
        self._window = max(DEFAULT_WINDOW, longest_name + 8)
        # Released text (at least the last `window` characters of it, as context),
        # then the text still held, which starts at `_held_from`.
        self._text = ""
        self._held_from = 0
        #: whether the policy scans at all (read on every delta)
        self.active = self._emails or self._phones or bool(self._names)

    def feed(self, text: str) -> str | None:
        """Text safe to send now ("" when all is held); None when a leak was found."""
        start = len(self._text)
        self._text = whole = self._text + text
        if (
            (self._phones and new_phone(whole, start))
            or (self._emails and "@" in whole and has_email(whole))
            or (self._names and has_name(whole, self._names))
        ):
            return None
        window = self._window
        cut = len(whole) - window
        held_from = self._held_from
        if cut <= held_from:
            return ""
        ready = whole[held_from:cut]
        if cut > 2 * window:  # keep one window of released text as context, no more
            self._text = whole[cut - window :]
            cut = window
        self._held_from = cut
        return ready

    def flush(self) -> str:
        """Everything still held. `feed` scanned it all when it arrived."""
        ready = self._text[self._held_from :]
        self._held_from = len(self._text)
        return ready
