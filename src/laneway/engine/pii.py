"""A PII scan of model output: e-mail addresses, phone numbers, and the caller's redact list.

Deliberately conservative: it rejects output; it never rewrites it. A phone
number needs 9 to 15 digits in a phone-like layout, so dates, versions and
prices do not trip it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

#: a match starts only where a run of local-part characters starts (the look-behind):
#: tried from inside a run, the search rescanned the run to its end from every
#: position, quadratic in the run (60 KB of letters and an "@": 5 s of one core)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_DIGIT = re.compile(r"\d")
_WORD = re.compile(r"\w")
#: the core of every phone number below, searched first: most text has no such run
_DIGIT_RUN = re.compile(r"\d[\d\s().-]{6,18}\d")
#: the look-ahead for a first character rejects most positions before the look-behind runs
_PHONE = re.compile(r"(?=[\d+(])(?<![\w.])\+?(?:\(\d{1,4}\)[\s.-]?)?\d[\d\s().-]{6,18}\d(?![\w])")
#: the longest text _PHONE can match (1 + 7 + 1 + 18 + 1): a match that ends in new
#: text starts at most this far before it (`stream_guard.py` scans no further back)
PHONE_REACH = 28


@dataclass(frozen=True, slots=True)
class PiiFinding:
    kind: str  # "email" | "phone" | "name"

    def __str__(self) -> str:
        return f"output contains a {'redacted name' if self.kind == 'name' else self.kind}"


def _is_phone(candidate: str) -> bool:
    digits = sum(ch.isdigit() for ch in candidate)
    separators = sum(ch in " -.()" for ch in candidate)
    return 9 <= digits <= 15 and (separators > 0 or candidate.startswith("+") or digits >= 10)


def scan(
    text: str, *, emails: bool = True, phones: bool = True, names: Collection[str] = ()
) -> list[PiiFinding]:
    """Kinds of PII found in `text`; the matched text itself is never returned."""
    findings: list[PiiFinding] = []
    if emails and "@" in text and _EMAIL.search(text):  # `in`: no regex for most text
        findings.append(PiiFinding("email"))
    if phones and _DIGIT.search(text) and _has_phone_from(text, 0):
        findings.append(PiiFinding("phone"))
    if names and has_name(text, names):
        findings.append(PiiFinding("name"))
    return findings


def has_email(text: str) -> bool:
    return "@" in text and _EMAIL.search(text) is not None


def has_phone(text: str, pos: int = 0) -> bool:
    """Whether a phone number starts at or after `pos`; the text before `pos` still
    counts as context (the look-behind sees it), unlike a slice."""
    return _DIGIT_RUN.search(text, pos) is not None and _has_phone_from(text, pos)


def _has_phone_from(text: str, pos: int) -> bool:
    return any(_is_phone(match.group(0)) for match in _PHONE.finditer(text, pos))


def new_phone(text: str, start: int) -> bool:
    """Whether `text[start:]`, appended to `text[:start]`, brings a phone number in.

    A match that ends in the appended part ends with a digit there and starts at
    most `PHONE_REACH` before it. With no digit appended, only the match the old
    text ended with can change, when a word character now follows it (its
    closing look-ahead fails and a shorter candidate may pass). Otherwise every
    match is one the old text held, scanned when it arrived.
    """
    if _DIGIT.search(text, start) is None and not (
        0 < start < len(text) and text[start - 1].isdigit() and _WORD.match(text, start)
    ):
        return False
    return has_phone(text, max(0, start - PHONE_REACH))


def has_name(text: str, names: Collection[str]) -> bool:
    lowered = text.casefold()
    return any(n.strip() and _contains_word(lowered, n.strip().casefold()) for n in names)


def _contains_word(haystack: str, needle: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) is not None


def deidentify(text: str, names: Iterable[str]) -> str:
    """Replace each redact-list name in input text with a stable placeholder."""
    for index, name in enumerate(n.strip() for n in names):
        if name:
            pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
            text = pattern.sub(f"[person-{index + 1}]", text)
    return text
