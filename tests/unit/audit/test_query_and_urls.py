"""Pure pieces: store URLs, durations, migrations, SQL placeholders, percentiles, fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from laneway.audit._sql import to_numbered
from laneway.audit.migrations import load_migrations
from laneway.audit.query import (
    NOT_SERVED,
    is_budget_driven,
    is_fallback,
    is_guard_stop,
    parse_duration,
    percentile,
    routing_stats,
    served_model,
    summarize,
)
from laneway.audit.records import RequestRow, dump_json
from laneway.config.store_urls import parse_store_url, redact_url
from laneway.errors import ConfigError


def test_sqlite_urls_resolve_relative_to_the_config_folder(tmp_path: Path) -> None:
    assert (
        parse_store_url("sqlite:///laneway.db", source_dir=tmp_path).path == tmp_path / "laneway.db"
    )
    assert parse_store_url("sqlite:////var/x/a.db").path == Path("/var/x/a.db")


def test_postgres_url_keeps_the_schema_option_apart() -> None:
    location = parse_store_url("postgresql://u:pw@db:5432/app?schema=audit")
    assert (location.kind, location.url, location.schema) == (
        "postgres",
        "postgresql://u:pw@db:5432/app",
        "audit",
    )
    assert redact_url("postgresql://u:pw@db/app") == "postgresql://u:***@db/app"


def test_unknown_scheme_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="unsupported audit store URL scheme 'mysql'") as info:
        parse_store_url("mysql://x/y")
    assert info.value.path == "audit.url"


@pytest.mark.parametrize(
    ("text", "seconds"), [("45s", 45), ("30m", 1800), ("1h", 3600), ("2d", 172800), ("1w", 604800)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_missing_unit() -> None:
    with pytest.raises(ConfigError, match="45s, 30m"):
        parse_duration("30")


def test_migrations_are_ordered_and_split_into_statements() -> None:
    for dialect in ("sqlite", "postgres"):
        migrations = load_migrations(dialect)
        assert [m.version for m in migrations] == sorted(m.version for m in migrations)
        statements = migrations[0].statements()
        assert any("CREATE TABLE IF NOT EXISTS audit_requests" in s for s in statements)
        assert not any(s.startswith("--") or ";" in s for s in statements)


def test_placeholders_are_renumbered_for_postgres() -> None:
    assert to_numbered("a = ? AND b IN (?, ?)") == "a = $1 AND b IN ($2, $3)"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0


def _row(**kw: object) -> RequestRow:
    return RequestRow("r", 0.0, "success", "coding", **kw)  # type: ignore[arg-type]


def test_fallback_means_served_by_or_tried_another_model() -> None:
    assert not is_fallback(_row(decision_model="a/x", model="a/x"))
    assert is_fallback(_row(decision_model="a/x", model="b/y"))
    tried = dump_json([{"model": "a/x", "code": "timeout"}, {"model": "b/y", "code": "timeout"}])
    assert is_fallback(_row(decision_model="a/x", attempts=tried))
    skipped = dump_json([{"model": "b/y", "code": "circuit_open", "skipped": True}])
    assert not is_fallback(_row(decision_model="a/x", model="a/x", attempts=skipped))
    assert not is_fallback(_row(model="b/y"))  # no decision recorded


def test_budget_driven_decisions() -> None:
    assert is_budget_driven(_row(decision_method="budget"))
    assert is_budget_driven(_row(decision_method="static", decision_reasoning="Budget low"))
    assert not is_budget_driven(_row(decision_method="static", decision_reasoning="rule 0"))


def _guard_stop() -> RequestRow:
    """What the engine files when a lane's guard refuses the input (Gateway._guard)."""
    return RequestRow(
        "g",
        0.0,
        "rejected",
        "coding",
        decision_model="zai/glm-4.7",
        decision_method="guard",
        provider="laneway",
        model="laneway/guard:safety",
        attempts=dump_json([{"model": "local/safety", "code": "success"}]),
    )


def test_a_guard_stop_is_counted_as_such_never_as_a_fallback() -> None:
    rows = [_guard_stop(), _row(decision_model="a/x", model="b/y")]
    assert is_guard_stop(rows[0])
    assert not is_fallback(rows[0])
    stats = routing_stats(rows, [])
    assert (stats.guard_stops, stats.fallbacks) == (1, 1)
    assert stats.served_models == {"b/y": 1}


def test_requests_are_attributed_to_the_model_that_served_them() -> None:
    failed = _row(decision_model="a/x", attempts=dump_json([{"model": "a/x", "code": "timeout"}]))
    assert served_model(failed) == NOT_SERVED
    assert served_model(_guard_stop()) == NOT_SERVED
    assert served_model(_row(decision_model="a/x", model="b/y")) == "b/y"
    groups = summarize([failed, _row(decision_model="a/x", model="b/y")], "model")
    assert sorted(g.key for g in groups) == [NOT_SERVED, "b/y"]
