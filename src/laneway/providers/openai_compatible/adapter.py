"""The Chat Completions adapter: thin I/O over `wire.py`.

- GitHub Models with `org:` posts to `/orgs/{org}/inference/chat/completions`
  so usage is billed to the organisation
  (https://docs.github.com/en/rest/models/inference).
- `openai` sends `OpenAI-Organization` / `OpenAI-Project` when configured.
- A stream that is cut, malformed or ends before its finish reason and
  `[DONE]` ends with one `ErrorDelta`; a status error before the first
  event raises `ProviderError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from laneway.config.credentials import Credential, check_credential, credentials_for
from laneway.config.presets import preset_for
from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.errors import ConfigError, ProviderError
from laneway.providers._common import (
    SecretResolver,
    encode_json,
    from_transport_error,
    invalid_response,
    parse_json_body,
    with_cost,
)
from laneway.providers.base import AdapterDeps, CredentialStatus
from laneway.providers.http import HttpResponse, TransportError
from laneway.providers.openai_compatible.wire import (
    OpenAISpec,
    build_request,
    classify_error,
    parse_response,
    parse_stream_event,
)
from laneway.providers.sse import iter_sse
from laneway.types import (
    Capability,
    Completion,
    CompletionRequest,
    Delta,
    ErrorDelta,
    FinishDelta,
    ModelInfo,
    ModelRef,
    Price,
    Usage,
    UsageDelta,
)

# -- the adapter -------------------------------------------------------------

_DEFAULT_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    "openai": frozenset(Capability),
    "openai_compatible": frozenset({Capability.STREAMING}),
}


class OpenAIAdapter:
    """The `openai` and `openai_compatible` kinds: thin I/O over the functions above."""

    def __init__(self, provider_id: str, spec: OpenAISpec, deps: AdapterDeps) -> None:
        self.provider_id = provider_id
        self.kind: str = spec.kind
        self.spec = spec
        self._deps = deps
        self._secrets = SecretResolver(deps.env, deps.clock)
        self._credentials = credentials_for(provider_id, spec)
        self._base_url = _base_url(spec)
        self.url = _chat_url(spec, self._base_url)

    # -- configuration ------------------------------------------------------

    def credentials(self) -> tuple[Credential, ...]:
        return self._credentials

    def check_credentials(self) -> tuple[CredentialStatus, ...]:
        return tuple(check_credential(c, self._deps.env) for c in self._credentials)

    def capabilities(self, model: str) -> ModelInfo:
        known = self._deps.catalog.get(model)
        if known is not None:
            return known
        entry = self.spec.models.get(model)
        caps = self.spec.capabilities
        if entry is not None and entry.capabilities is not None:
            caps = entry.capabilities
        price = entry.price if entry is not None else None
        return ModelInfo(
            ref=ModelRef(self.provider_id, model),
            capabilities=frozenset(caps) if caps is not None else _DEFAULT_CAPABILITIES[self.kind],
            context_window=entry.context if entry else None,
            max_output_tokens=entry.max_output if entry else None,
            price=Price(price.input, price.output) if price else None,
        )

    async def headers(self, credential: Credential | None, *, stream: bool) -> dict[str, str]:
        """Request headers: auth, OpenAI org/project, then the config's `headers:`."""
        out = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        credential = credential or self._credentials[0]
        secret = await self._secrets.require(credential)
        if secret:
            out["Authorization"] = f"Bearer {secret}"
        if isinstance(self.spec, OpenAIProvider):
            if self.spec.org:
                out["OpenAI-Organization"] = self.spec.org
            if self.spec.project:
                out["OpenAI-Project"] = self.spec.project
        out.update(self.spec.headers)
        return out

    # -- calls -----------------------------------------------------------------

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Completion:
        label = (credential or self._credentials[0]).label
        started = self._deps.clock.monotonic()
        wire = build_request(request, model, self.spec)
        wire.pop("stream", None)
        wire.pop("stream_options", None)
        body = encode_json(wire)
        headers = await self.headers(credential, stream=False)
        try:
            response = await self._deps.transport.post(
                self.url, headers=headers, body=body, timeout_s=timeout_s
            )
        except TransportError as exc:
            raise from_transport_error(self.provider_id, model, exc, credential=label) from exc
        if response.status >= 300:
            raise self._error(response, model, credential)
        data = parse_json_body(self.provider_id, model, response.body)
        completion = parse_response(data, provider=self.provider_id, model=model)
        return _finished(
            completion,
            usage=with_cost(completion.usage, self.capabilities(model)),
            latency_ms=(self._deps.clock.monotonic() - started) * 1000,
            credential=label,
        )

    async def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        label = (credential or self._credentials[0]).label
        wire = build_request(request, model, self.spec)
        wire |= {"stream": True, "stream_options": {"include_usage": True}}
        headers = await self.headers(credential, stream=True)
        try:
            stream = await self._deps.transport.open_stream(
                self.url, headers=headers, body=encode_json(wire), timeout_s=timeout_s
            )
        except TransportError as exc:
            raise from_transport_error(self.provider_id, model, exc, credential=label) from exc
        try:
            if stream.status >= 300:
                error_body = await _read_quietly(stream.read())
                response = HttpResponse(stream.status, stream.headers, error_body)
                raise self._error(response, model, credential)
            async for delta in self._deltas(stream.iter_bytes(), model, label):
                yield delta
        finally:
            await stream.aclose()

    async def _deltas(
        self, chunks: AsyncIterator[bytes], model: str, label: str
    ) -> AsyncIterator[Delta]:
        """Deltas from SSE; a cut or malformed stream ends with one `ErrorDelta`."""
        info = self.capabilities(model)
        finished = False
        try:
            async for event in iter_sse(chunks):
                if event.data.strip() == "[DONE]":
                    return
                for delta in parse_stream_event(event.data, provider=self.provider_id, model=model):
                    if isinstance(delta, UsageDelta):
                        delta = UsageDelta(with_cost(delta.usage, info))
                    finished = finished or isinstance(delta, FinishDelta)
                    yield delta
                    if isinstance(delta, ErrorDelta):
                        return
        except TransportError as exc:
            error = from_transport_error(self.provider_id, model, exc, credential=label)
            yield ErrorDelta(error)
            return
        except ProviderError as error:
            yield ErrorDelta(error)
            return
        if not finished:
            what = "the stream ended before its finish reason and [DONE]"
            yield ErrorDelta(invalid_response(self.provider_id, model, what))

    def _error(
        self, response: HttpResponse, model: str, credential: Credential | None = None
    ) -> ProviderError:
        credential = credential or self._credentials[0]
        if response.status == 401:
            self._secrets.invalidate(credential)
        return classify_error(
            response.status,
            response.headers,
            response.body,
            provider=self.provider_id,
            model=model,
            now_wall=self._deps.clock.wall(),
            credential=credential.label,
        )

    async def probe(self, credential: Credential | None = None) -> None:
        """List models: cheap, and it fails with the same errors a call would."""
        headers = await self.headers(credential, stream=False)
        try:
            response = await self._deps.transport.get(
                _models_url(self.spec, self._base_url), headers=headers, timeout_s=10.0
            )
        except TransportError as exc:
            raise from_transport_error(self.provider_id, None, exc) from exc
        if response.status >= 300:
            raise self._error(response, "", credential)

    async def aclose(self) -> None:
        """Nothing to close: the transport is shared and closed by its owner."""


def _finished(
    completion: Completion, *, usage: Usage, latency_ms: float, credential: str
) -> Completion:
    return Completion(
        content=completion.content,
        provider=completion.provider,
        model=completion.model,
        finish_reason=completion.finish_reason,
        tool_calls=completion.tool_calls,
        usage=usage,
        latency_ms=latency_ms,
        request_id=completion.request_id,
        credential=credential,
    )


async def _read_quietly(read: Any) -> bytes:
    """An error body; a failure reading it leaves only the status to classify by."""
    try:
        data: bytes = await read
    except TransportError:
        return b""
    return data


def _base_url(spec: OpenAISpec) -> str:
    preset = preset_for(spec.kind, getattr(spec, "preset", None))
    base = spec.base_url or (preset.base_url if preset else "")
    if not base:
        raise ConfigError(
            "an openai_compatible provider needs a server address",
            hint="set `base_url:` or a `preset:` (github, zai, openrouter, groq, ...)",
        )
    return base.rstrip("/")


def _chat_url(spec: OpenAISpec, base: str) -> str:
    if isinstance(spec, OpenAICompatibleProvider) and spec.preset == "github" and spec.org:
        root = base.removesuffix("/inference")
        return f"{root}/orgs/{spec.org}/inference/chat/completions"
    return f"{base}/chat/completions"


def _models_url(spec: OpenAISpec, base: str) -> str:
    if isinstance(spec, OpenAICompatibleProvider) and spec.preset == "github":
        return f"{base.removesuffix('/inference')}/catalog/models"
    return f"{base}/models"
