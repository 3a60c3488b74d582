"""What every adapter kind shares before any I/O: its profiles and its models' capabilities.

An ABC because it shares implementation (`Adapter` in `base.py` stays the
protocol others implement). Kinds differ only in the defaults for a model
that neither the catalog nor the provider's config describes.

Capabilities follow `config/catalog.py`: the catalog's entry wins; else the
model's `models:` entry, then the provider's `capabilities:`, then the kind's
default. An explicit empty list means "none", not "unset".
"""

from __future__ import annotations

from abc import ABC
from typing import Generic, TypeVar

from laneway.config.credentials import (
    Credential,
    CredentialStatus,
    check_credential,
    credentials_for,
)
from laneway.config.schema import (
    AnthropicProvider,
    FakeProvider,
    GeminiProvider,
    LocalProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
)
from laneway.providers.base import AdapterDeps
from laneway.types import (
    Capability,
    ModelInfo,
    ModelRef,
    Price,
)

SpecT = TypeVar(
    "SpecT",
    bound=OpenAIProvider
    | OpenAICompatibleProvider
    | AnthropicProvider
    | GeminiProvider
    | LocalProvider
    | FakeProvider,
)


class AdapterBase(ABC, Generic[SpecT]):
    """Profiles, their presence and model capabilities; subclasses add `complete` and `stream`.

    With those two, a subclass is an `Adapter` (`base.py`).
    """

    #: Capabilities of a model nobody described; a kind may set it per instance.
    default_capabilities: frozenset[Capability] = frozenset(Capability)
    #: Context window of a model nobody described (None: unknown).
    default_context_window: int | None = None
    #: Whether `complete` ends itself at `timeout_s`; if not, the engine times it.
    enforces_timeout: bool = False

    def __init__(self, provider_id: str, spec: SpecT, deps: AdapterDeps) -> None:
        self.provider_id = provider_id
        self.kind: str = spec.kind
        self.spec = spec
        self._deps = deps
        self._profiles = credentials_for(provider_id, spec)

    def credentials(self) -> tuple[Credential, ...]:
        """Usable profiles in the order to try them; empty when none is configured."""
        return tuple(s.credential for s in self.check_credentials() if s.present)

    def check_credentials(self) -> tuple[CredentialStatus, ...]:
        """Every profile with whether its secret is present; no network call."""
        return tuple(check_credential(c, self._deps.env) for c in self._profiles)

    def capabilities(self, model: str) -> ModelInfo:
        """The catalog's entry, else the config's, else this kind's defaults."""
        if (known := self._deps.catalog.get(model)) is not None:
            return known
        entry = self.spec.models.get(model)
        caps = self.spec.capabilities
        if entry is not None and entry.capabilities is not None:
            caps = entry.capabilities
        price = entry.price if entry else None
        return ModelInfo(
            ref=ModelRef(self.provider_id, model),
            capabilities=frozenset(caps) if caps is not None else self.default_capabilities,
            context_window=(entry.context if entry else None) or self.default_context_window,
            max_output_tokens=entry.max_output if entry else None,
            price=Price(price.input, price.output, price.cache_read, price.cache_write)
            if price
            else None,
        )

    async def probe(self, credential: Credential | None = None) -> None:
        """Nothing to check by default: a kind that calls a server overrides this."""

    async def aclose(self) -> None:
        """Nothing to release: a shared transport is closed by its owner."""
