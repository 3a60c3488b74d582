"""Hold back the tail of a stream's text until the PII scan has seen it.

An e-mail address or phone number can arrive split across deltas. The guard
releases text only once it lies more than `window` characters behind the end
of what has arrived, so any match touching released text was whole when it was
scanned. A leak found in held text ends the stream before that text is sent.
"""

from __future__ import annotations

from laneway.engine.pii import scan
from laneway.engine.validation import OutputPolicy

#: longer than any e-mail address or phone number the scan looks for
DEFAULT_WINDOW = 96


class StreamPiiGuard:
    def __init__(self, policy: OutputPolicy) -> None:
        self._policy = policy
        longest_name = max(map(len, policy.redact), default=0)
        self._window = max(DEFAULT_WINDOW, longest_name + 8)
        self._released_tail = ""
        self._held = ""
        #: whether the policy scans at all (read on every delta)
        self.active = policy.pii_emails or policy.pii_phones or bool(policy.redact)

    def feed(self, text: str) -> str | None:
        """Text safe to send now ("" when all is held); None when a leak was found."""
        self._held += text
        if self._leaks():
            return None
        cut = len(self._held) - self._window
        if cut <= 0:
            return ""
        ready, self._held = self._held[:cut], self._held[cut:]
        self._released_tail = (self._released_tail + ready)[-self._window :]
        return ready

    def flush(self) -> str | None:
        """Everything still held, once scanned; None when it leaks."""
        if not self._held:  # what was released was scanned while it was held
            return ""
        if self._leaks():
            return None
        ready, self._held = self._held, ""
        self._released_tail = (self._released_tail + ready)[-self._window :]
        return ready

    def _leaks(self) -> bool:
        p = self._policy
        text = self._released_tail + self._held
        return bool(scan(text, emails=p.pii_emails, phones=p.pii_phones, names=p.redact))
