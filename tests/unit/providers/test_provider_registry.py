"""The one registry of provider kinds: every kind builds, unknown kinds are config errors."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from laneway.clock import FakeClock
from laneway.config.schema import ProviderSpec
from laneway.errors import ConfigError
from laneway.http import HttpxTransport
from laneway.providers import ADAPTER_KINDS, adapter_class, build_adapter
from laneway.providers.base import AdapterDeps

SPECS = TypeAdapter(ProviderSpec)


@pytest.mark.parametrize(
    ("raw", "cls_name"),
    [
        ({"kind": "openai"}, "OpenAIAdapter"),
        ({"kind": "openai_compatible", "preset": "zai"}, "OpenAIAdapter"),
        ({"kind": "local"}, "LocalAdapter"),
        ({"kind": "fake"}, "FakeAdapter"),
    ],
)
def test_build_adapter_by_kind(raw: dict[str, str], cls_name: str) -> None:
    deps = AdapterDeps(transport=HttpxTransport(), clock=FakeClock())
    adapter = build_adapter("p1", SPECS.validate_python(raw), deps)
    assert type(adapter).__name__ == cls_name
    assert adapter.provider_id == "p1"
    assert adapter.kind == raw["kind"]


def test_every_schema_kind_is_registered() -> None:
    schema = SPECS.json_schema()
    kinds = set(schema["discriminator"]["mapping"])
    assert kinds == set(ADAPTER_KINDS)


def test_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider kind 'cohere'"):
        adapter_class("cohere")
