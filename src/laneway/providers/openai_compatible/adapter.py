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

from collections.abc import Mapping
from typing import Any

from laneway.config.credentials import Credential
from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.errors import ProviderError
from laneway.providers._base_http import HttpAdapterBase, StreamReader
from laneway.providers._wire import invalid_response
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible.wire import (
    OpenAISpec,
    build_request,
    classify_error,
    parse_response,
    parse_stream_event,
)
from laneway.types import Answer, Capability, CompletionRequest, Delta, FinishDelta

_DEFAULT_CAPABILITIES: Mapping[str, frozenset[Capability]] = {
    "openai": frozenset(Capability),
    "openai_compatible": frozenset({Capability.STREAMING}),
}


class OpenAIAdapter(HttpAdapterBase[OpenAISpec]):
    """The `openai` and `openai_compatible` kinds: `wire.py` plugged into the HTTP base.

    `url` is where calls go (GitHub Models' org path included); tests may point it elsewhere.
    """

    classify_error = staticmethod(classify_error)
    display_name = "the Chat Completions server"

    def __init__(self, provider_id: str, spec: OpenAISpec, deps: AdapterDeps) -> None:
        super().__init__(provider_id, spec, deps)
        self.default_capabilities = _DEFAULT_CAPABILITIES[spec.kind]
        self.url = _chat_url(spec, self._base_url)

    def _url(self, model: str, *, stream: bool) -> str:
        return self.url

    def _probe_url(self) -> str:
        """List models: cheap, and it fails with the same errors a call would."""
        return _models_url(self.spec, self._base_url)

    def _build_headers(self, secret: str | None, *, stream: bool) -> dict[str, str]:
        """Auth, OpenAI org/project, then the config's `headers:` (which win)."""
        out = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if secret:
            out["Authorization"] = f"Bearer {secret}"  # also what `auth_header: bearer` asks
        if isinstance(self.spec, OpenAIProvider):
            if self.spec.org:
                out["OpenAI-Organization"] = self.spec.org
            if self.spec.project:
                out["OpenAI-Project"] = self.spec.project
        out.update(self.spec.headers)
        return out

    def _build_body(
        self, request: CompletionRequest, model: str, *, stream: bool
    ) -> dict[str, Any]:
        body = build_request(request, model, self.spec)
        body.pop("stream", None)
        body.pop("stream_options", None)
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return body

    def _parse(self, data: Any, request: CompletionRequest, model: str) -> Answer:
        return parse_response(data, provider=self.provider_id, model=model)

    def _reader(self, request: CompletionRequest, model: str) -> StreamReader:
        return _ChunkReader(self.provider_id, model)

    def _cut_error(self, model: str, profile: Credential) -> ProviderError:
        what = "the stream ended before its finish reason and [DONE]"
        return invalid_response(self.provider_id, model, what)


class _ChunkReader:
    """`chat.completion.chunk` events: `[DONE]` ends them; after a finish reason, so may a close.

    The usage chunk (`stream_options.include_usage`) comes after the finish
    reason, so reading goes on until `[DONE]` or the close.
    """

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self.finished = False
        self.complete = False

    def parse(self, name: str, data: str) -> list[Delta]:
        if data[:1] != "{" and data.strip() == "[DONE]":  # a chunk's data is not copied
            self.finished = self.complete = True
            return []
        deltas = parse_stream_event(data, provider=self._provider, model=self._model)
        if not self.complete:  # a loop, not any(genexpr): this runs for every event
            for delta in deltas:
                if isinstance(delta, FinishDelta):
                    self.complete = True
        return deltas


def _chat_url(spec: OpenAISpec, base: str) -> str:
    if isinstance(spec, OpenAICompatibleProvider) and spec.preset == "github" and spec.org:
        root = base.removesuffix("/inference")
        return f"{root}/orgs/{spec.org}/inference/chat/completions"
    return f"{base}/chat/completions"


def _models_url(spec: OpenAISpec, base: str) -> str:
    if isinstance(spec, OpenAICompatibleProvider) and spec.preset == "github":
        return f"{base.removesuffix('/inference')}/catalog/models"
    return f"{base}/models"
