"""Versioned schema migrations shared by the SQLite and PostgreSQL audit stores.

Each migration is a file `NNNN_name.sql` in this package, written in SQL both
backends accept. A backend-specific variant `NNNN_name.<dialect>.sql` wins over
the portable file when one is ever needed. Stores record applied versions in
`audit_migrations` and apply the missing ones, in order, when they open.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS audit_migrations ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ts DOUBLE PRECISION NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The migration split into statements (our files never put `;` inside a literal)."""
        lines = [line for line in self.sql.splitlines() if not line.strip().startswith("--")]
        return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def load_migrations(dialect: Dialect) -> list[Migration]:
    """Every migration for `dialect`, ordered by version."""
    files = {entry.name: entry for entry in resources.files(__name__).iterdir()}
    chosen: dict[int, Migration] = {}
    for filename in sorted(files):
        parts = filename.split(".")
        if parts[-1] != "sql" or len(parts) not in (2, 3):
            continue
        if len(parts) == 3 and parts[1] != dialect:
            continue
        version_text, _, name = parts[0].partition("_")
        migration = Migration(int(version_text), name, files[filename].read_text("utf-8"))
        if len(parts) == 3 or migration.version not in chosen:
            chosen[migration.version] = migration
    return [chosen[version] for version in sorted(chosen)]
