"""The URL rules of `audit.url` and `state.url`: which schemes exist and what they mean.

Pure, so the loader can refuse an unusable URL at load time (naming the file
and line) with the very rule the stores use when they open: `audit/backends.py`
opens what `parse_store_url` returns, and `state/url.py` picks its backend by these
scheme sets. Nothing here opens a file or a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from laneway.errors import ConfigError

MEMORY_SCHEMES = frozenset({"memory"})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


@dataclass(frozen=True, slots=True)
class StoreLocation:
    kind: str  # "sqlite" | "postgres"
    path: Path | None = None
    url: str | None = None
    schema: str | None = None


def parse_store_url(url: str, *, source_dir: Path | None = None) -> StoreLocation:
    """Resolve `audit.url`; a relative SQLite path is relative to the config file's folder."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        raw = url[len("sqlite://") :]
        if raw.startswith("/") and not raw.startswith("//"):
            raw = raw[1:]  # sqlite:///laneway.db -> laneway.db (relative)
        elif raw.startswith("//"):
            raw = raw[1:]  # sqlite:////abs/path.db -> /abs/path.db
        raw = raw.split("?", 1)[0]
        if not raw:
            raise _bad_audit_url(url)
        path = Path(raw)
        if not path.is_absolute():
            path = (source_dir or Path.cwd()) / path
        return StoreLocation("sqlite", path=path)
    if parts.scheme in ("postgresql", "postgres"):
        schema = parse_qs(parts.query).get("schema", [None])[0]
        base = url.split("?", 1)[0]
        return StoreLocation("postgres", url=base, schema=schema)
    raise _bad_audit_url(url)


def _bad_audit_url(url: str) -> ConfigError:
    scheme = urlsplit(url).scheme or "(none)"
    return ConfigError(
        f"unsupported audit store URL scheme {scheme!r}",
        path="audit.url",
        hint="use sqlite:///laneway.db (relative), sqlite:////abs/path.db "
        "or postgresql://user@host/db[?schema=name]",
    )


def state_scheme(url: str) -> str:
    """The scheme of `state.url`, lower-cased; a ConfigError when no backend serves it."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in MEMORY_SCHEMES or scheme in REDIS_SCHEMES:
        return scheme
    known = ", ".join(f"{s}://" for s in sorted(MEMORY_SCHEMES | REDIS_SCHEMES))
    raise ConfigError(
        f"unknown state store scheme {scheme + '://' if scheme else repr(url)}",
        path="state.url",
        hint=f"use one of {known}, e.g. `state: {{url: memory://}}` or `redis://localhost:6379/0`",
    )


def redact_url(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
