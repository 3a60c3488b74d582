"""The Anthropic adapter's I/O: thin async methods around the pure code in `wire`.

The adapter never retries, never falls back and never owns the HTTP client:
it is handed a shared `HttpTransport` and closes nothing of it in `aclose`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from laneway.config.credentials import (
    Credential,
    CredentialStatus,
    check_credential,
    credentials_for,
)
from laneway.config.presets import KIND_DEFAULTS
from laneway.config.schema import AnthropicProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._common import (
    SecretResolver,
    encode_json,
    from_transport_error,
    invalid_response,
    parse_json_body,
    with_cost,
)
from laneway.providers.anthropic import wire
from laneway.providers.anthropic.stream import StreamState, parse_stream_event
from laneway.providers.base import AdapterDeps
from laneway.providers.http import HttpResponse, HttpStream, TransportError
from laneway.providers.sse import iter_sse
from laneway.types import (
    Capability,
    Completion,
    CompletionRequest,
    Delta,
    ErrorDelta,
    ModelInfo,
    ModelRef,
    Price,
    UsageDelta,
)

DEFAULT_CONTEXT_WINDOW = 200_000
PROBE_TIMEOUT_S = 10.0


class AnthropicAdapter:
    """`kind: anthropic` — the Messages API (`POST {base_url}/v1/messages`)."""

    kind = "anthropic"

    def __init__(self, provider_id: str, spec: AnthropicProvider, deps: AdapterDeps) -> None:
        self.provider_id = provider_id
        self._spec = spec
        self._deps = deps
        base_url = spec.base_url or KIND_DEFAULTS["anthropic"].base_url
        self._base_url = base_url.rstrip("/")
        self._secrets = SecretResolver(deps.env, deps.clock)
        self._profiles = credentials_for(provider_id, spec)

    # -- credentials and capabilities ------------------------------------------

    def credentials(self) -> tuple[Credential, ...]:
        return tuple(s.credential for s in self.check_credentials() if s.present)

    def check_credentials(self) -> tuple[CredentialStatus, ...]:
        return tuple(check_credential(c, self._deps.env) for c in self._profiles)

    def capabilities(self, model: str) -> ModelInfo:
        """The catalog's entry, else Claude defaults refined by this provider's config."""
        if (known := self._deps.catalog.get(model)) is not None:
            return known
        override = self._spec.models.get(model)
        caps = (override and override.capabilities) or self._spec.capabilities or list(Capability)
        price = override.price if override else None
        return ModelInfo(
            ref=ModelRef(self.provider_id, model),
            capabilities=frozenset(caps),
            context_window=(override and override.context) or DEFAULT_CONTEXT_WINDOW,
            max_output_tokens=override.max_output if override else None,
            price=Price(price.input, price.output) if price else None,
        )

    # -- calls ---------------------------------------------------------------------

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Completion:
        profile = self._profile(credential)
        body = self._body(request, model, profile, stream=False)
        headers = await self._headers(profile)
        started = self._deps.clock.monotonic()
        try:
            response = await self._deps.transport.post(
                self._url, headers=headers, body=body, timeout_s=timeout_s
            )
        except TransportError as exc:
            raise self._transport_error(model, profile, exc) from exc
        return self._completion(response, request, model, profile, started)

    async def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        profile = self._profile(credential)
        body = self._body(request, model, profile, stream=True)
        headers = {**await self._headers(profile), "accept": "text/event-stream"}
        opened = await self._open(headers, body, model, profile, timeout_s)
        try:
            if opened.status >= 300:
                raise await self._stream_status_error(opened, model, profile)
            state = StreamState(output_tool=wire.output_tool_name(request))
            async for delta in self._deltas(opened, state, model, profile):
                yield delta
        finally:
            await opened.aclose()

    async def probe(self, credential: Credential | None = None) -> None:
        """`GET /v1/models?limit=1`: cheap, and answers 401/403 for a bad key."""
        profile = self._profile(credential)
        headers = await self._headers(profile)
        try:
            response = await self._deps.transport.get(
                f"{self._base_url}/v1/models?limit=1", headers=headers, timeout_s=PROBE_TIMEOUT_S
            )
        except TransportError as exc:
            raise self._transport_error(None, profile, exc) from exc
        if response.status >= 300:
            raise self._error(response.status, response.headers, response.body, None, profile)

    async def aclose(self) -> None:
        """Nothing to release: the shared transport is closed by its owner."""

    # -- helpers ---------------------------------------------------------------------

    @property
    def _url(self) -> str:
        return f"{self._base_url}/v1/messages"

    def _profile(self, credential: Credential | None) -> Credential:
        if credential is not None:
            return credential
        usable = self.credentials()
        return usable[0] if usable else self._profiles[0]

    async def _headers(self, profile: Credential) -> dict[str, str]:
        key = await self._secrets.require(profile)
        return wire.build_headers(
            key, version=self._spec.anthropic_version, extra=self._spec.headers
        )

    def _body(
        self, request: CompletionRequest, model: str, profile: Credential, *, stream: bool
    ) -> bytes:
        try:
            payload = wire.build_request(
                request, model, default_max_tokens=self._spec.default_max_tokens, stream=stream
            )
        except wire.RequestError as exc:
            raise ProviderError(
                f"request cannot be sent to Anthropic: {exc}",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.BAD_REQUEST,
                credential=profile.label,
            ) from exc
        return encode_json(payload)

    def _completion(
        self,
        response: HttpResponse,
        request: CompletionRequest,
        model: str,
        profile: Credential,
        started: float,
    ) -> Completion:
        if response.status >= 300:
            raise self._error(response.status, response.headers, response.body, model, profile)
        data = parse_json_body(self.provider_id, model, response.body)
        try:
            parsed = wire.parse_response(data, output_tool=wire.output_tool_name(request))
        except wire.WireError as exc:
            raise invalid_response(self.provider_id, model, str(exc)) from exc
        return Completion(
            content=parsed.content,
            provider=self.provider_id,
            model=model,
            finish_reason=parsed.finish_reason,
            tool_calls=parsed.tool_calls,
            usage=with_cost(parsed.usage, self.capabilities(model)),
            latency_ms=(self._deps.clock.monotonic() - started) * 1000,
            credential=profile.label,
        )

    async def _open(
        self,
        headers: dict[str, str],
        body: bytes,
        model: str,
        profile: Credential,
        timeout_s: float,
    ) -> HttpStream:
        try:
            return await self._deps.transport.open_stream(
                self._url, headers=headers, body=body, timeout_s=timeout_s
            )
        except TransportError as exc:
            raise self._transport_error(model, profile, exc) from exc

    async def _stream_status_error(
        self, opened: HttpStream, model: str, profile: Credential
    ) -> ProviderError:
        try:
            body = await opened.read()
        except TransportError:
            body = b""  # the status alone still classifies the failure
        return self._error(opened.status, opened.headers, body, model, profile)

    async def _deltas(
        self, opened: HttpStream, state: StreamState, model: str, profile: Credential
    ) -> AsyncIterator[Delta]:
        """Deltas until `message_stop`; any failure after the 200 ends in one ErrorDelta."""
        info = self.capabilities(model)
        try:
            async for event in iter_sse(opened.iter_bytes()):
                for delta in parse_stream_event(event, state):
                    if isinstance(delta, UsageDelta):
                        delta = UsageDelta(with_cost(delta.usage, info))
                    yield delta
                if state.finished:
                    return
        except TransportError as exc:
            error = self._transport_error(model, profile, exc)
        except wire.WireError as exc:
            error = invalid_response(self.provider_id, model, str(exc))
        except wire.StreamFailure as exc:
            error = self._error(exc.status, {}, exc.body, model, profile)
        else:
            error = ProviderError(
                "the stream ended before message_stop (connection closed early)",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.NETWORK,
                credential=profile.label,
            )
        yield ErrorDelta(error)

    def _error(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        model: str | None,
        profile: Credential,
    ) -> ProviderError:
        error = wire.classify_error(
            status,
            headers,
            body,
            provider=self.provider_id,
            model=model,
            now_wall=self._deps.clock.wall(),
            credential=profile.label,
        )
        if error.code is ErrorCode.AUTH:
            self._secrets.invalidate(profile)  # a command token may have expired early
        return error

    def _transport_error(
        self, model: str | None, profile: Credential, exc: TransportError
    ) -> ProviderError:
        return from_transport_error(self.provider_id, model, exc, credential=profile.label)
