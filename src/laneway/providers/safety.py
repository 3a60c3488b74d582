"""`local/safety`: a small built-in risk screen for guard lanes, with no model and no network.

It looks for a few well-known patterns of harm in the user's text —
destructive shell and SQL commands, requests to leak secrets, prompt
injection — and answers `{"risk": ..., "reason": ...}` as a guard lane
expects. It is a floor, not a classifier: register your own with
`laneway.providers.local.register("safety", fn)` to replace it.
"""

from __future__ import annotations

import json
import re

_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "high",
        "destructive shell command",
        re.compile(
            r"\brm\s+-[a-z]*r[a-z]*f?[a-z]*\s+(/|~|\*|\$HOME)(\s|$)|\bmkfs(\.\w+)?\s|"
            r"\bdd\s+[^\n]*of=/dev/|:\(\)\s*\{\s*:\|:&\s*\};:",
            re.I,
        ),
    ),
    (
        "high",
        "destructive database statement",
        re.compile(r"\b(drop\s+(table|database|schema)|truncate\s+table)\b", re.I),
    ),
    (
        "high",
        "asks to reveal or send secrets",
        re.compile(
            r"\b(send|post|upload|exfiltrate|reveal|print|leak)\b[^.\n]{0,60}"
            r"\b(api[\s_-]?keys?|passwords?|secrets?|private\s+keys?|tokens?|credentials)\b",
            re.I,
        ),
    ),
    (
        "medium",
        "prompt injection",
        re.compile(
            r"\b(ignore|disregard|forget)\b[^.\n]{0,30}\b(previous|prior|above|all)\b"
            r"[^.\n]{0,20}\b(instructions|rules|prompts?)\b",
            re.I,
        ),
    ),
    (
        "medium",
        "force push or history rewrite",
        re.compile(r"\bgit\s+push\s+[^\n]*(--force|-f)\b|\bgit\s+reset\s+--hard\b", re.I),
    ),
)


def screen(text: str) -> str:
    """The guard verdict for `text`, as JSON."""
    for risk, reason, pattern in _RULES:
        if pattern.search(text):
            return json.dumps({"risk": risk, "reason": reason})
    return json.dumps({"risk": "low", "reason": "no known risk pattern"})
