"""Loading from a file, a mapping or nothing; YAML and validation errors made readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from laneway.config import Config, ConfigError, load_config
from laneway.config.loader import BUILTIN, find_config_file
from laneway.types import ModelRef

MINIMAL = {"providers": {"local": {"kind": "local"}}, "lanes": {"a": {"primary": "local/echo"}}}


def test_mapping_source_gives_resolved_lanes() -> None:
    config = load_config(MINIMAL, env={})
    assert config.lane("a").primary == ModelRef("local", "echo")
    assert config.source == "<mapping>"


def test_config_instance_passes_through() -> None:
    config = load_config(MINIMAL, env={})
    assert load_config(config, env={}) is config


def test_no_source_and_no_file_gives_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.source == BUILTIN
    assert set(config.lanes) >= {"default", "planning", "coding", "review", "safety"}


def test_no_source_reads_laneway_yaml_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "laneway.yaml").write_text(
        "providers: {local: {kind: local}}\nlanes: {only: {primary: local/echo}}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert set(load_config(None, env={}).lanes) == {"only"}


def test_laneway_config_variable_wins(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("providers: {local: {kind: local}}\nlanes: {x: {primary: local/echo}}\n")
    assert find_config_file({"LANEWAY_CONFIG": str(other)}) == other
    assert set(load_config(None, env={"LANEWAY_CONFIG": str(other)}).lanes) == {"x"}


def test_missing_file_names_the_file_and_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", env={})
    assert "nope.yaml" in str(caught.value)
    assert "laneway init" in str(caught.value)


def test_empty_file_has_no_lanes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert isinstance(load_config(empty, env={}), Config)
    assert load_config(empty, env={}).lanes == {}


def test_top_level_list_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_config(bad, env={})


def test_several_problems_are_listed_one_per_line() -> None:
    data = {
        "providers": {"local": {"kind": "local"}},
        "lanes": {"a": {"primry": "local/echo"}, "b": {"primary": "local/echo", "budget": 3}},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(data, env={})
    lines = str(caught.value).splitlines()
    assert "3 problems" in lines[0]
    assert any(line.startswith("  - lanes.a.primry: unknown key") for line in lines)
    assert any(line.startswith("  - lanes.a.primary: missing required key") for line in lines)
    assert any(line.startswith("  - lanes.b.budget: expected a mapping") for line in lines)


def test_duplicate_nested_key_names_its_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "dup.yaml"
    bad.write_text(
        "providers:\n  local: {kind: local}\nlanes:\n  a:\n    primary: local/echo\n"
        "    primary: local/echo\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(bad, env={})
    assert caught.value.path == "lanes.a.primary"


def test_output_schema_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    (tmp_path / "schemas" / "answer.json").write_text(json.dumps(schema))
    file = tmp_path / "laneway.yaml"
    file.write_text(
        "providers: {local: {kind: local}}\n"
        "lanes: {a: {primary: local/echo, output_schema: schemas/answer.json}}\n"
    )
    assert load_config(file, env={}).lane("a").output_schema == schema


def test_invalid_inline_output_schema_is_refused() -> None:
    data = {
        "providers": {"local": {"kind": "local"}},
        "lanes": {"a": {"primary": "local/echo", "output_schema": {"type": "objekt"}}},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(data, env={})
    assert caught.value.path == "lanes.a.output_schema"
    assert "not a usable JSON Schema" in str(caught.value)
