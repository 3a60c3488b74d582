"""The seam every provider kind implements, and what an adapter is built from.

Adapters translate and transport; they never retry, never fall back and never
read routing state. The engine picks the credential profile for each call
(`laneway.config.credentials`), so rotation on `rate_limit`/`auth` shows in
the trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from laneway.config.credentials import Credential, CredentialStatus
from laneway.types import Completion, CompletionRequest, Delta, ModelInfo

if TYPE_CHECKING:
    from laneway.clock import Clock
    from laneway.http import HttpTransport


class Adapter(Protocol):
    provider_id: str
    kind: str
    #: True when `complete` itself ends a call at `timeout_s` (by cancellation), so the
    #: engine need not wrap it in a timer of its own
    enforces_timeout: bool

    def credentials(self) -> tuple[Credential, ...]:
        """Usable profiles in the order to try them; empty when none is configured."""
        ...

    def check_credentials(self) -> tuple[CredentialStatus, ...]:
        """Every profile with whether its secret is present; no network call."""
        ...

    def capabilities(self, model: str) -> ModelInfo:
        """What this model can do and costs, from defaults, genai-prices and config."""
        ...

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Completion:
        """One call. Raises `ProviderError` (never a library exception) on any failure."""
        ...

    def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        """Deltas as they arrive. Raises `ProviderError` before the first delta;
        a failure after it is yielded as a final `ErrorDelta`."""
        ...

    async def probe(self, credential: Credential | None = None) -> None:
        """A live, cheap credential check (`laneway check --live`); raises `ProviderError`."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AdapterDeps:
    """What an adapter is built with: injected, so tests swap the transport and clock."""

    transport: HttpTransport
    clock: Clock
    env: Mapping[str, str] = field(default_factory=dict)
    catalog: Mapping[str, ModelInfo] = field(default_factory=dict)  # model name -> info


__all__ = ["Adapter", "AdapterDeps", "Credential", "CredentialStatus"]
