"""`provider/model` globs compiled once: exact names to a set, patterns to one regex.

A candidate is matched once; the answer is kept per provider and model name
(strings hash once and keep it), so judging a known candidate again builds no
string and allocates nothing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from laneway.types import ModelRef

#: distinct models remembered per glob set; pinned models may be many, config models are few
_MEMO_LIMIT = 4096

_GLOB_CHARS = frozenset("*?[")


def is_glob(text: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(text)


class TextGlobs:
    """Does a string match any of these shell-style globs? Exact ones by set lookup."""

    __slots__ = ("_exact", "_pattern", "globs")

    def __init__(self, globs: Iterable[str]) -> None:
        self.globs = tuple(globs)
        self._exact = frozenset(g for g in self.globs if not is_glob(g))
        patterns = [fnmatch.translate(g) for g in self.globs if is_glob(g)]
        self._pattern = re.compile("|".join(patterns)) if patterns else None

    def matches(self, text: str) -> bool:
        if text in self._exact:
            return True
        return self._pattern is not None and self._pattern.fullmatch(text) is not None


class ModelGlobs:
    """Does a model match any of these globs (`anthropic/claude-opus-*`, `local/*`)?"""

    __slots__ = ("_memo", "_size", "_text", "globs")

    def __init__(self, globs: Iterable[str]) -> None:
        self._text = TextGlobs(globs)
        self.globs = self._text.globs
        self._memo: dict[str, dict[str, bool]] = {}
        self._size = 0

    def matches(self, ref: ModelRef) -> bool:
        by_model = self._memo.get(ref.provider)
        if by_model is not None:
            hit = by_model.get(ref.model)
            if hit is not None:
                return hit
        return self._remember(ref)

    def _remember(self, ref: ModelRef) -> bool:
        hit = self._text.matches(f"{ref.provider}/{ref.model}")
        if self._size >= _MEMO_LIMIT:
            self._memo.clear()
            self._size = 0
        self._memo.setdefault(ref.provider, {})[ref.model] = hit
        self._size += 1
        return hit

    def __repr__(self) -> str:
        return f"ModelGlobs({list(self.globs)!r})"
