"""How long a provider asks us to wait, from whichever header it uses.

`retry-after-ms` (OpenAI), `Retry-After` in seconds or as an HTTP date (RFC 9110),
and `x-ratelimit-reset-*` durations such as `6m0s`, `1.5s` or `20ms` (OpenAI,
Groq). The earliest stated moment wins; Gemini's `RetryInfo` lives in its body
and is read by its adapter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(text: str) -> float | None:
    """`1m30s` -> 90.0, `250ms` -> 0.25, `2` -> 2.0; None when unreadable."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        return None
    return sum(float(p.group("value")) * _UNIT_S[p.group("unit")] for p in parts)


def retry_after_s(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """Seconds to wait, from lower-cased response headers; None when none is given."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if (value := headers.get("retry-after")) is not None:
        seconds = parse_duration_s(value)
        if seconds is not None:
            return seconds
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now_wall)
        except (TypeError, ValueError):
            pass
    resets = [
        parse_duration_s(headers[name])
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if name in headers
    ]
    known = [seconds for seconds in resets if seconds is not None]
    return min(known) if known else None
