"""The JSON Schema of `laneway.yaml`, for editors (`laneway config schema`).

Generated from the same pydantic models that validate the file, so the two
cannot drift. Secrets appear as plain strings (`${VAR}` references in practice).
"""

from __future__ import annotations

from typing import Any

from laneway.config.schema import ConfigSpec

SCHEMA_ID = "https://laneway.dev/schema/laneway.yaml.json"


def config_json_schema() -> dict[str, Any]:
    """The schema as a JSON-ready dict, titled and with a `$schema` dialect."""
    schema = ConfigSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "laneway configuration"
    return schema
