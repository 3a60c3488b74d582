"""`laneway config schema` and `laneway config show`.

`schema` prints the JSON Schema of laneway.yaml for editors. `show` prints the
configuration as laneway resolved it (environment overrides applied, defaults
filled in) with every secret masked: API keys, client keys, header values and proxy passwords.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from laneway.cli.config_source import ConfigOption, load_cli_config

MASK = "**********"

config_app = typer.Typer(help="Inspect the configuration and its schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of laneway.yaml."""
    from laneway.config.json_schema import config_json_schema

    typer.echo(json.dumps(config_json_schema(), indent=2))


@config_app.command("show")
def show_command(config: ConfigOption = None) -> None:
    """Print the resolved configuration, secrets masked."""
    import yaml

    loaded = load_cli_config(config)
    data = loaded.spec.model_dump(mode="json", exclude_defaults=True)
    for name, lane in loaded.lanes.items():
        data.setdefault("lanes", {}).setdefault(name, {})
        data["lanes"][name]["primary"] = str(lane.primary)
        data["lanes"][name]["fallback"] = [str(ref) for ref in lane.fallback]
    for provider in data.get("providers", {}).values():
        _mask_headers(provider)
    _mask_proxy(data, *data.get("providers", {}).values())
    typer.echo(f"# source: {loaded.source}")
    for path, var in loaded.overrides.items():
        typer.echo(f"# {path} from {var}")
    typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


def _mask_proxy(*sections: dict[str, Any]) -> None:
    """A proxy URL's password is a secret too."""
    from laneway.http.settings import masked_proxy

    for section in sections:
        if isinstance(section.get("proxy"), str):
            section["proxy"] = masked_proxy(section["proxy"], MASK)


def _mask_headers(provider: dict[str, Any]) -> None:
    headers = provider.get("headers")
    if isinstance(headers, dict):
        provider["headers"] = {name: MASK for name in headers}
