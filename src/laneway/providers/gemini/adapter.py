"""The Gemini adapter: the pure pieces of `wire` plugged into the HTTP base.

All I/O (secrets, POST, error classification, SSE to deltas) is
`HttpAdapterBase`'s; this module says where, with which headers and body,
and that a blocked prompt (`promptFeedback.blockReason`) is a content filter.
"""

from __future__ import annotations

from typing import Any

from laneway.config.credentials import Credential
from laneway.config.schema import GeminiProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._base_http import HttpAdapterBase, StateReader, StreamReader
from laneway.providers._wire import WireProblem
from laneway.providers.gemini import wire
from laneway.types import Answer, CompletionRequest

DEFAULT_CONTEXT_WINDOW = 1_048_576


class GeminiAdapter(HttpAdapterBase[GeminiProvider]):
    """`kind: gemini` — `models/{model}:generateContent` and `:streamGenerateContent`."""

    classify_error = staticmethod(wire.classify_error)
    display_name = "Gemini"
    stream_end = "a chunk with a finishReason"
    default_context_window = DEFAULT_CONTEXT_WINDOW

    def _url(self, model: str, *, stream: bool) -> str:
        return wire.build_url(self._base_url, self.spec.api_version, model, stream=stream)

    def _probe_url(self) -> str:
        """`GET /{api_version}/models?pageSize=1`: cheap, and refuses a bad key."""
        return f"{self._base_url}/{self.spec.api_version}/models?pageSize=1"

    def _build_headers(self, secret: str | None, *, stream: bool) -> dict[str, str]:
        headers = wire.build_headers(secret, extra=self.spec.headers, auth=self.spec.auth_header)
        return {**headers, "accept": "text/event-stream"} if stream else headers

    def _build_body(
        self, request: CompletionRequest, model: str, *, stream: bool
    ) -> dict[str, Any]:
        return wire.build_request(request)

    def _parse(self, data: Any, request: CompletionRequest, model: str) -> Answer:
        return wire.parse_response(data)

    def _reader(self, request: CompletionRequest, model: str) -> StreamReader:
        return StateReader(wire.parse_stream_event, wire.StreamState())

    def _from_wire(self, exc: WireProblem, model: str, profile: Credential) -> ProviderError:
        if not isinstance(exc, wire.PromptBlocked):
            return super()._from_wire(exc, model, profile)
        return ProviderError(
            f"Gemini refused the prompt (promptFeedback.blockReason {exc.reason})",
            provider=self.provider_id,
            model=model,
            code=ErrorCode.CONTENT_FILTER,
            credential=profile.label,
        )
