"""A PII scan of model output: e-mail addresses, phone numbers, and the caller's redact list.

Deliberately conservative: it rejects output; it never rewrites it. A phone
number needs 9 to 15 digits in a phone-like layout, so dates, versions and
prices do not trip it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: a quick scan first: _PHONE opens with a look-behind, so it is tried at every position
_DIGIT = re.compile(r"\d")
_PHONE = re.compile(r"(?<![\w.])\+?(?:\(\d{1,4}\)[\s.-]?)?\d[\d\s().-]{6,18}\d(?![\w])")


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
    if emails and "@" in text and _EMAIL.search(text):  # `in`: no regex for most outputs
        findings.append(PiiFinding("email"))
    if phones and _DIGIT.search(text):
        for match in _PHONE.finditer(text):
            if _is_phone(match.group(0)):
                findings.append(PiiFinding("phone"))
                break
    if names:
        lowered = text.casefold()
        if any(n.strip() and _contains_word(lowered, n.strip().casefold()) for n in names):
            findings.append(PiiFinding("name"))
    return findings


def _contains_word(haystack: str, needle: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) is not None


def deidentify(text: str, names: Iterable[str]) -> str:
    """Replace each redact-list name in input text with a stable placeholder."""
    for index, name in enumerate(n.strip() for n in names):
        if name:
            pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)", re.IGNORECASE)
            text = pattern.sub(f"[person-{index + 1}]", text)
    return text
