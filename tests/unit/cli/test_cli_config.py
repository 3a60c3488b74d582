"""`laneway config schema` and `laneway config show`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from laneway.cli.main import app


def test_schema_is_json_schema_of_the_config() -> None:
    result = CliRunner().invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"providers", "lanes", "routing"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_schema_accepts_the_init_example(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    from laneway.cli.init import example_config

    schema = json.loads(CliRunner().invoke(app, ["config", "schema"]).output)
    jsonschema.validate(yaml.safe_load(example_config()), schema)


def test_show_masks_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers:\n  anthropic: {kind: anthropic, api_key: '${K}', "
        "headers: {X-Secret: '${K}'}}\n"
        "lanes:\n  a: {primary: anthropic/claude-haiku-4-5}\n"
        "server:\n  keys: [{key: client-secret}]\n"
    )
    result = CliRunner().invoke(
        app,
        ["config", "show", "--config", str(config)],
        env={"K": "sk-very-secret", "LANEWAY_LANE_A": "anthropic/claude-sonnet-4-5"},
    )
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    assert "client-secret" not in result.output
    assert "anthropic/claude-sonnet-4-5" in result.output
    assert "LANEWAY_LANE_A" in result.output


def test_show_masks_proxy_passwords(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "proxy: 'http://corp:${P}@proxy.corp:3128'\n"
        "providers:\n  local: {kind: local, proxy: 'http://me:${P}@other:8080'}\n"
        "lanes:\n  a: {primary: local/echo}\n"
    )
    result = CliRunner().invoke(
        app, ["config", "show", "--config", str(config)], env={"P": "hunter2"}
    )
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "http://corp:" in result.output
    assert "@proxy.corp:3128" in result.output
