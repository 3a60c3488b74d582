"""The Anthropic adapter: the pure pieces of `wire` and `stream` plugged into the HTTP base.

All I/O (secrets, POST, error classification, SSE to deltas) is
`HttpAdapterBase`'s; this module says only where, with which headers and body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laneway.config.schema import AnthropicProvider
from laneway.http import TransportError
from laneway.providers._base_http import HttpAdapterBase, StateReader, StreamReader
from laneway.providers._wire import encode_json, invalid_response, parse_json_body
from laneway.providers.anthropic import passthrough, wire
from laneway.providers.anthropic.stream import StreamState, parse_stream_event
from laneway.types import Answer, CompletionRequest, WirePayload

DEFAULT_CONTEXT_WINDOW = 200_000


class AnthropicAdapter(HttpAdapterBase[AnthropicProvider]):
    """`kind: anthropic` — the Messages API (`POST {base_url}/v1/messages`)."""

    classify_error = staticmethod(wire.classify_error)
    display_name = "Anthropic"
    stream_end = "message_stop"
    default_context_window = DEFAULT_CONTEXT_WINDOW
    wire_format = passthrough.WIRE_FORMAT

    def _url(self, model: str, *, stream: bool) -> str:
        return f"{self._base_url}/v1/messages"

    def _probe_url(self) -> str:
        """`GET /v1/models?limit=1`: cheap, and answers 401/403 for a bad key."""
        return f"{self._base_url}/v1/models?limit=1"

    def _build_headers(self, secret: str | None, *, stream: bool) -> dict[str, str]:
        headers = wire.build_headers(
            secret,
            version=self.spec.anthropic_version,
            extra=self.spec.headers,
            auth=self.spec.auth_header,
        )
        return {**headers, "accept": "text/event-stream"} if stream else headers

    async def count_tokens(self, payload: WirePayload, model: str, *, timeout_s: float) -> int:
        """`POST /v1/messages/count_tokens` with the client's own body, for `model`.

        Free at Anthropic and exact (SPEC `MessageTokensCount`); raises `ProviderError`.
        """
        profile = self._profile(None)
        headers = await self._headers(profile, stream=False)
        headers.update(self._wire_headers(payload))
        body = encode_json(passthrough.build_body(payload, model, stream=False))
        try:
            response = await self._deps.transport.post(
                f"{self._base_url}/v1/messages/count_tokens",
                headers=headers,
                body=body,
                timeout_s=timeout_s,
            )
        except TransportError as exc:
            raise self._transport_error(model, profile, exc) from exc
        if response.status >= 300:
            raise self._error(response.status, response.headers, response.body, model, profile)
        data = parse_json_body(self.provider_id, model, response.body)
        tokens = data.get("input_tokens") if isinstance(data, dict) else None
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise self._masked(invalid_response(self.provider_id, model, "no input_tokens count"))
        return tokens

    def _wire_headers(self, payload: WirePayload) -> Mapping[str, str]:
        return passthrough.forwarded_headers(payload, self.spec.headers)

    def _build_body(
        self, request: CompletionRequest, model: str, *, stream: bool
    ) -> dict[str, Any]:
        if request.wire is not None and request.wire.format == self.wire_format:
            return passthrough.build_body(request.wire, model, stream=stream)
        return wire.build_request(
            request, model, default_max_tokens=self.spec.default_max_tokens, stream=stream
        )

    def _parse(self, data: Any, request: CompletionRequest, model: str) -> Answer:
        return wire.parse_response(
            data,
            output_tool=wire.output_tool_name(request),
            # the upstream's answer, for a client of the same wire as it came
            keep_body=request.wire is not None and request.wire.format == self.wire_format,
        )

    def _reader(self, request: CompletionRequest, model: str) -> StreamReader:
        state = StreamState(wire.output_tool_name(request))
        if request.wire is not None and request.wire.format == self.wire_format:
            return passthrough.PassthroughReader(state)
        return StateReader(parse_stream_event, state)
