"""The I/O skeleton every HTTP adapter shares; each kind supplies only pure pieces.

`HttpAdapterBase` does the thin async part of ARCHITECTURE's adapter: fetch
the profile's secret, POST, classify a non-2xx with the kind's pure
`classify_error`, parse a 2xx with the kind's parser, and read SSE into
deltas, ending a stream that was cut or sent an error event with one final
`ErrorDelta`. A kind says only its URLs, headers, body, parser and stream
reader. The adapter never retries, never falls back and never owns the HTTP
client: it is handed a shared `HttpTransport` and closes nothing of it.

A rejected key (`auth`) drops a cached `api_key_command` token, which may
have expired before the time it stated.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from laneway.config.credentials import Credential
from laneway.config.presets import preset_for
from laneway.config.schema import ProviderSpec
from laneway.errors import ConfigError, ErrorCode, ProviderError
from laneway.http import HttpStream, TransportError
from laneway.http.sse import SseError, SseEvent, SseParser
from laneway.providers._adapter_base import AdapterBase, SpecT
from laneway.providers._secrets import SecretResolver
from laneway.providers._wire import (
    StreamFailure,
    WireProblem,
    WireRequestError,
    encode_json,
    from_transport_error,
    invalid_response,
    parse_json_body,
    with_cost,
)
from laneway.providers.base import AdapterDeps
from laneway.types import (
    Answer,
    CompletionRequest,
    Delta,
    ErrorDelta,
    UsageDelta,
    WirePayload,
)

PROBE_TIMEOUT_S = 10.0


class ErrorClassifier(Protocol):
    """A kind's pure `classify_error`: status, headers and body to a `ProviderError`."""

    def __call__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        provider: str,
        model: str | None,
        now_wall: float,
        credential: str | None = None,
    ) -> ProviderError: ...


class StreamReader(Protocol):
    """One stream's parser and what it has seen so far."""

    @property
    def finished(self) -> bool:
        """The stream said its last word: stop reading."""
        ...

    @property
    def complete(self) -> bool:
        """A close here is a normal end, not a cut."""
        ...

    def parse(self, name: str, data: str) -> list[Delta]:
        """The deltas of one event (`name` is "message" when the stream names none); raises
        `WireProblem` or `ProviderError` on a bad one."""
        ...


class _HasFinished(Protocol):
    @property
    def finished(self) -> bool: ...


StateT = TypeVar("StateT", bound=_HasFinished)


class StateReader(Generic[StateT]):
    """A reader over a pure `parse_stream_event(event, state)`; done when the state is."""

    def __init__(self, parse: Callable[[SseEvent, StateT], list[Delta]], state: StateT) -> None:
        self._parse = parse
        self.state = state

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def complete(self) -> bool:
        return self.state.finished

    def parse(self, name: str, data: str) -> list[Delta]:
        return self._parse(SseEvent(name, data), self.state)


class HttpAdapterBase(AdapterBase[SpecT]):
    """`complete`, `stream` and `probe` over HTTP; see the module docstring."""

    #: The kind's pure error classifier (assign `staticmethod(wire.classify_error)`).
    classify_error: ClassVar[ErrorClassifier]
    #: The provider's name in messages, e.g. "request cannot be sent to Anthropic".
    display_name: ClassVar[str]
    #: What a whole stream ends with, named when one was cut before it.
    stream_end: ClassVar[str] = "its last event"
    #: the transport ends each call at `timeout_s` (aiohttp / httpx timeouts)
    enforces_timeout = True
    #: the client wire format this kind passes through unchanged (`WirePayload.format`)
    wire_format: ClassVar[str | None] = None

    def __init__(self, provider_id: str, spec: SpecT, deps: AdapterDeps) -> None:
        super().__init__(provider_id, spec, deps)
        self._secrets = SecretResolver(deps.env, deps.clock, spec.headers.values())
        self._base_url = base_url_for(spec)

    # -- what a kind supplies ------------------------------------------------------

    @abstractmethod
    def _url(self, model: str, *, stream: bool) -> str:
        """Where a call for `model` is POSTed."""

    @abstractmethod
    def _probe_url(self) -> str:
        """A cheap GET that a bad key fails (usually listing one model)."""

    @abstractmethod
    def _build_headers(self, secret: str | None, *, stream: bool) -> dict[str, str]:
        """Every request header, the secret's included (see `spec.auth_header`)."""

    def _wire_headers(self, payload: WirePayload) -> Mapping[str, str]:
        """Client headers a pass-through request forwards (a kind with `wire_format`)."""
        return {}

    @abstractmethod
    def _build_body(
        self, request: CompletionRequest, model: str, *, stream: bool
    ) -> Mapping[str, Any]:
        """The JSON body; raises `WireRequestError` for what the wire cannot say."""

    @abstractmethod
    def _parse(self, data: Any, request: CompletionRequest, model: str) -> Answer:
        """A decoded 2xx body as an `Answer`: what the provider said, and no more.

        No cost: the engine, which knows the price, the time the call took and
        the profile it chose, sets them once when it builds the `Completion`
        its caller sees.
        """

    @abstractmethod
    def _reader(self, request: CompletionRequest, model: str) -> StreamReader:
        """A fresh reader for one stream."""

    # -- calls -----------------------------------------------------------------------

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Answer:
        profile = self._profile(credential)
        body = self._body(request, model, profile, stream=False)
        headers = await self._headers(profile, stream=False)
        if request.wire is not None and request.wire.format == self.wire_format:
            headers.update(self._wire_headers(request.wire))
        try:
            response = await self._deps.transport.post(
                self._url(model, stream=False), headers=headers, body=body, timeout_s=timeout_s
            )
        except TransportError as exc:
            raise self._transport_error(model, profile, exc) from exc
        if response.status >= 300:
            raise self._error(response.status, response.headers, response.body, model, profile)
        data = parse_json_body(self.provider_id, model, response.body)
        try:
            return self._parse(data, request, model)
        except WireProblem as exc:
            raise self._from_wire(exc, model, profile) from exc

    async def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        """Deltas until the reader is finished; any failure after the 200 ends in one ErrorDelta.

        `stream_batches`, one delta at a time (the engine reads the batches).
        """
        batches = self.stream_batches(request, model, timeout_s=timeout_s, credential=credential)
        try:
            async for batch in batches:
                for delta in batch:
                    yield delta
        finally:
            await batches.aclose()

    async def stream_batches(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncGenerator[list[Delta], None]:
        """The deltas of each read of the body, together: what one read brought is screened,
        rendered and sent downstream at once. Never an empty list; any failure after the
        200 ends the last one with an ErrorDelta.

        One generator, with SSE parsed here read by read: every generator layer is
        paid per read, and an async generator left unfinished (the reader stops at
        `[DONE]`) is closed by the event loop in a task of its own
        (docs/performance.md, `## Server`).
        """
        profile = self._profile(credential)
        body = self._body(request, model, profile, stream=True)
        headers = await self._headers(profile, stream=True)
        if request.wire is not None and request.wire.format == self.wire_format:
            headers.update(self._wire_headers(request.wire))
        opened = await self._open(model, headers, body, profile, timeout_s)
        try:
            if opened.status >= 300:
                raise await self._stream_status_error(opened, model, profile)
            reader = self._reader(request, model)
            info = self.capabilities(model)
            parser = SseParser()
            deltas: list[Delta] = []
            try:
                ended = False
                while not ended:
                    chunk = await opened.next_chunk()
                    ended = not chunk
                    for name, data in parser.end() if ended else parser.feed(chunk):
                        for delta in reader.parse(name, data):
                            if isinstance(delta, UsageDelta):
                                delta = UsageDelta(with_cost(delta.usage, info))
                            elif isinstance(delta, ErrorDelta):
                                # the provider's words may echo a key we sent
                                deltas.append(ErrorDelta(self._masked(delta.error)))
                                yield deltas
                                return
                            deltas.append(delta)
                        if reader.finished:
                            if deltas:
                                yield deltas
                            return
                    if deltas:
                        yield deltas
                        deltas = []
            except TransportError as exc:
                error = self._transport_error(model, profile, exc)
            except WireProblem as exc:
                error = self._from_wire(exc, model, profile)
            except SseError as exc:
                error = self._masked(invalid_response(self.provider_id, model, str(exc)))
            except ProviderError as exc:
                error = self._masked(exc)
            else:
                if reader.complete:
                    return
                error = self._cut_error(model, profile)
            deltas.append(ErrorDelta(error))  # after what this read brought before it
            yield deltas
        finally:
            await opened.aclose()

    async def probe(self, credential: Credential | None = None) -> None:
        """A live credential check: GET `_probe_url`; raises `ProviderError` on failure."""
        profile = self._profile(credential)
        headers = await self._headers(profile, stream=False)
        try:
            response = await self._deps.transport.get(
                self._probe_url(), headers=headers, timeout_s=PROBE_TIMEOUT_S
            )
        except TransportError as exc:
            raise self._transport_error(None, profile, exc) from exc
        if response.status >= 300:
            raise self._error(response.status, response.headers, response.body, None, profile)

    # -- the shared steps ----------------------------------------------------------

    def _profile(self, credential: Credential | None) -> Credential:
        """The engine's choice, else the first usable profile, else the first (to name it)."""
        if credential is not None:
            return credential
        usable = self.credentials()
        return usable[0] if usable else self._profiles[0]

    async def _headers(self, profile: Credential, *, stream: bool) -> dict[str, str]:
        secret = await self._secrets.require(profile)
        return self._build_headers(secret, stream=stream)

    def _body(
        self, request: CompletionRequest, model: str, profile: Credential, *, stream: bool
    ) -> bytes:
        wire = request.wire
        if wire is not None and wire.untranslatable and wire.format != self.wire_format:
            raise self._from_wire(WireRequestError(untranslatable(wire)), model, profile)
        try:
            return encode_json(self._build_body(request, model, stream=stream))
        except WireProblem as exc:
            raise self._from_wire(exc, model, profile) from exc

    async def _open(
        self,
        model: str,
        headers: dict[str, str],
        body: bytes,
        profile: Credential,
        timeout_s: float,
    ) -> HttpStream:
        try:
            return await self._deps.transport.open_stream(
                self._url(model, stream=True), headers=headers, body=body, timeout_s=timeout_s
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

    # -- errors ------------------------------------------------------------------------

    def _error(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        model: str | None,
        profile: Credential,
    ) -> ProviderError:
        error = self.classify_error(
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
        return self._masked(error)

    def _masked(self, error: ProviderError) -> ProviderError:
        """`error` without any secret we sent, should the body have echoed one back.

        Masked in place: the error is ours, fresh, and not yet seen by anyone.
        """
        masked = self._secrets.mask(error.message)
        if masked != error.message:
            error.message = masked
            error.args = (masked,)
        return error

    def _from_wire(self, exc: WireProblem, model: str, profile: Credential) -> ProviderError:
        """A kind's wire problem as a `ProviderError`; a kind with more problems extends it."""
        if isinstance(exc, StreamFailure):
            return self._error(exc.status, {}, exc.body, model, profile)
        if isinstance(exc, WireRequestError):
            return ProviderError(
                f"request cannot be sent to {self.display_name}: {exc}",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.BAD_REQUEST,
                credential=profile.label,
            )
        return self._masked(invalid_response(self.provider_id, model, str(exc)))

    def _cut_error(self, model: str, profile: Credential) -> ProviderError:
        """A stream that closed before `stream_end`: the connection dropped."""
        return ProviderError(
            f"the stream ended before {self.stream_end} (connection closed early)",
            provider=self.provider_id,
            model=model,
            code=ErrorCode.NETWORK,
            credential=profile.label,
        )

    def _transport_error(
        self, model: str | None, profile: Credential, exc: TransportError
    ) -> ProviderError:
        return from_transport_error(
            self.provider_id, model, exc, credential=profile.label, base_url=self._base_url
        )


def untranslatable(wire: WirePayload) -> str:
    """The 400's words for a request that uses what only its own wire format can say."""
    return (
        f"this request uses {', '.join(wire.untranslatable)}, which only the {wire.format} "
        f"wire format carries; route it to a lane served by a {wire.format}-format model "
        "(kind: anthropic), or leave those features out"
    )


def base_url_for(spec: ProviderSpec) -> str:
    """`base_url`, else the preset's or the kind's default, without a trailing slash."""
    preset = preset_for(spec.kind, getattr(spec, "preset", None))
    base: str = spec.base_url or (preset.base_url if preset else "")
    if not base:
        raise ConfigError(
            f"a {spec.kind} provider needs a server address",
            hint="set `base_url:` or a `preset:` (github, zai, openrouter, groq, ...)",
        )
    return base.rstrip("/")
