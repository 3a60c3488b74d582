"""The seam every provider kind implements, and what an adapter is built from.

Adapters translate and transport; they never retry, never fall back and never
read routing state. The engine picks the credential profile for each call
(`laneway.config.credentials`), so rotation on `rate_limit`/`auth` shows in
the trace.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from laneway.config.credentials import Credential, CredentialStatus
from laneway.types import Answer, CompletionRequest, Delta, ModelInfo

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
    ) -> Answer:
        """One call: what the provider answered. Raises `ProviderError` (never a library
        exception) on any failure.

        The engine makes the answer the caller's `Completion`: it names the model,
        prices the usage when the adapter left the cost unset, and times and labels
        the call itself.
        """
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


class BatchStreamer(Protocol):
    """An adapter that can hand on what each upstream read brought as one list (the HTTP
    kinds): the engine screens each list at once and the server writes it in one send."""

    def stream_batches(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[list[Delta]]:
        """`stream`'s deltas in lists, never empty; an `ErrorDelta` ends the last one."""
        ...


def stream_batches(
    adapter: Adapter,
    request: CompletionRequest,
    model: str,
    *,
    timeout_s: float,
    credential: Credential | None,
) -> AsyncIterator[list[Delta]]:
    """`adapter`'s stream in lists: by upstream read when it offers `stream_batches`
    (`BatchStreamer`), else one delta per list."""
    if getattr(adapter, "stream_batches", None) is not None:
        streamer = cast(BatchStreamer, adapter)
        return streamer.stream_batches(request, model, timeout_s=timeout_s, credential=credential)
    return _one_by_one(adapter.stream(request, model, timeout_s=timeout_s, credential=credential))


async def _one_by_one(deltas: AsyncIterator[Delta]) -> AsyncGenerator[list[Delta], None]:
    try:
        async for delta in deltas:
            yield [delta]
    finally:  # closing this closes the adapter's generator now, not when it is collected
        closer = getattr(deltas, "aclose", None)
        if closer is not None:
            await closer()


@dataclass(frozen=True, slots=True)
class AdapterDeps:
    """What an adapter is built with: injected, so tests swap the transport and clock."""

    transport: HttpTransport
    clock: Clock
    env: Mapping[str, str] = field(default_factory=dict)
    catalog: Mapping[str, ModelInfo] = field(default_factory=dict)  # model name -> info


__all__ = [
    "Adapter",
    "AdapterDeps",
    "BatchStreamer",
    "Credential",
    "CredentialStatus",
    "stream_batches",
]
