"""The provider registry: every adapter kind, keyed by `kind`, in this one place.

Adapters are imported lazily by dotted path, so `import laneway` never loads
an HTTP client or a wire format it does not use. Every adapter class has the
same constructor: `Adapter(provider_id: str, spec: <its spec model>, deps: AdapterDeps)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from laneway.errors import ConfigError

if TYPE_CHECKING:
    from laneway.config.schema import ProviderSpec
    from laneway.providers.base import Adapter, AdapterDeps

AdapterFactory = Callable[[str, Any, "AdapterDeps"], "Adapter"]
"""An adapter class: `(provider_id, spec, deps) -> Adapter`."""

ADAPTER_KINDS: dict[str, str] = {
    "openai": "laneway.providers.openai_compatible:OpenAIAdapter",
    "openai_compatible": "laneway.providers.openai_compatible:OpenAIAdapter",
    "anthropic": "laneway.providers.anthropic:AnthropicAdapter",
    "gemini": "laneway.providers.gemini:GeminiAdapter",
    "local": "laneway.providers.local:LocalAdapter",
    "fake": "laneway.providers.fake:FakeAdapter",
}


def adapter_class(kind: str) -> AdapterFactory:
    """The adapter class registered for `kind`, imported on first use."""
    target = ADAPTER_KINDS.get(kind)
    if target is None:
        known = ", ".join(sorted(ADAPTER_KINDS))
        raise ConfigError(
            f"unknown provider kind {kind!r}", hint=f"use one of the known kinds: {known}"
        )
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return cast("AdapterFactory", getattr(module, attribute))


def build_adapter(provider_id: str, spec: ProviderSpec, deps: AdapterDeps) -> Adapter:
    """A ready adapter for one configured provider."""
    cls = adapter_class(spec.kind)
    return cls(provider_id, spec, deps)


__all__ = ["ADAPTER_KINDS", "AdapterFactory", "adapter_class", "build_adapter"]
