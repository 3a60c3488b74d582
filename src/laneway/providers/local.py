"""The `local` kind: in-process models, for safety classifiers, offline defaults and tests.

Model names a `local` provider answers:

- `echo`: the last user message's text. With a `json_object`/`json_schema`
  response format it answers `{"echo": "<text>"}` so JSON-expecting lanes
  still parse.
- `template:<key>` (or a bare `<key>` that names a template): the text of
  `templates: {<key>: ...}` in the provider's config, with `{prompt}`
  replaced by the last user message; a lane names it as
  `local/template:<key>`.
- `safety`: a built-in risk screen for guard lanes (`providers/safety.py`),
  answering `{"risk": "low|medium|high", "reason": ...}`; a registered
  `safety` function replaces it.
- any name registered with `register(name, fn)`: `fn(request)`, sync or
  async, returning `str`, an `Answer` or a `Completion`. Sync functions run on the event
  loop: keep them quick, or make them async.

Registrations live in a `LocalRegistry`. `register` writes to
`default_registry`, the one documented process-wide registry (the issue asks
for `laneway.providers.local.register("safety", fn)`); a `LocalAdapter` reads
the registry it was given, and tests build their own.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from laneway.config.credentials import Credential
from laneway.config.schema import LocalProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.providers._adapter_base import AdapterBase
from laneway.providers._wire import with_cost
from laneway.providers.base import AdapterDeps
from laneway.providers.safety import screen
from laneway.types import (
    Answer,
    Capability,
    Completion,
    CompletionRequest,
    Delta,
    FinishDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageDelta,
)

LocalFunction = Callable[
    [CompletionRequest], "str | Answer | Completion | Awaitable[str | Answer | Completion]"
]
"""A local model: takes the canonical request, returns the answer (or awaits it)."""

BUILT_INS = frozenset({"echo", "template"})
_WORDS = re.compile(r"\s*\S+\s*|\s+")


class LocalRegistry:
    """Named local functions. Registering a name again replaces the earlier function."""

    def __init__(self) -> None:
        self._functions: dict[str, LocalFunction] = {}

    def register(self, name: str, fn: LocalFunction) -> None:
        if name in BUILT_INS or name.startswith("template:"):
            raise ValueError(f"{name!r} is a built-in local model; register under another name")
        if not name or "/" in name:
            raise ValueError(f"local model name {name!r} must be non-empty and contain no '/'")
        self._functions[name] = fn

    def unregister(self, name: str) -> None:
        self._functions.pop(name, None)

    def get(self, name: str) -> LocalFunction | None:
        return self._functions.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._functions))


default_registry = LocalRegistry()
"""The process-wide registry `register` writes to; adapters use it unless given another."""


def register(name: str, fn: LocalFunction) -> None:
    """Make `fn` answer as `<local provider>/<name>` in every Gateway of this process."""
    default_registry.register(name, fn)


def last_user_text(request: CompletionRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text
    return ""


def echo(request: CompletionRequest) -> str:
    text = last_user_text(request)
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        return json.dumps({"echo": text})
    return text


def split_words(text: str) -> list[str]:
    """Stream chunks: each word with the whitespace around it, so chunks join back to `text`."""
    return _WORDS.findall(text) or ([text] if text else [])


class LocalAdapter(AdapterBase[LocalProvider]):
    """Answers in-process; no credentials, no network."""

    default_capabilities = frozenset({Capability.STREAMING, Capability.JSON_SCHEMA})
    #: built-ins answer at once; registered functions run under `asyncio.timeout(timeout_s)`
    enforces_timeout = True

    def __init__(
        self,
        provider_id: str,
        spec: LocalProvider,
        deps: AdapterDeps,
        *,
        registry: LocalRegistry | None = None,
    ) -> None:
        super().__init__(provider_id, spec, deps)
        self.registry = registry if registry is not None else default_registry

    async def complete(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> Answer:
        answer = await self._answer(request, model, timeout_s)
        if isinstance(answer, str):
            answer = Answer(answer)
        usage = answer.usage if answer.usage.total_tokens else _estimate(request, answer.content)
        return Answer(
            content=answer.content,
            finish_reason=answer.finish_reason,
            tool_calls=answer.tool_calls,
            usage=with_cost(usage, self.capabilities(model)),
        )

    async def stream(
        self,
        request: CompletionRequest,
        model: str,
        *,
        timeout_s: float,
        credential: Credential | None = None,
    ) -> AsyncIterator[Delta]:
        answer = await self.complete(request, model, timeout_s=timeout_s)
        for word in split_words(answer.content):
            yield TextDelta(word)
        for index, call in enumerate(answer.tool_calls):
            yield ToolCallDelta(index, call.id, call.name, call.arguments)
        yield UsageDelta(answer.usage)
        yield FinishDelta(answer.finish_reason)

    # -- answering -------------------------------------------------------------

    async def _answer(
        self, request: CompletionRequest, model: str, timeout_s: float
    ) -> str | Answer | Completion:
        if model == "echo":
            return echo(request)
        template = self._template(model)
        if template is not None:
            return template.replace("{prompt}", last_user_text(request))
        fn = self.registry.get(model)
        if fn is None and model == "safety":
            return screen(last_user_text(request))
        if fn is None:
            raise self._unknown(model)
        return await self._call(fn, request, model, timeout_s)

    def _template(self, model: str) -> str | None:
        key = model.removeprefix("template:")
        if model.startswith("template:") and key not in self.spec.templates:
            raise self._unknown(model)
        return self.spec.templates.get(key)

    async def _call(
        self, fn: LocalFunction, request: CompletionRequest, model: str, timeout_s: float
    ) -> str | Answer | Completion:
        try:
            async with asyncio.timeout(timeout_s):
                result = fn(request)
                if inspect.isawaitable(result):
                    result = await result
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise ProviderError(
                f"local function {model!r} did not answer within {timeout_s:g} s",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.TIMEOUT,
                retryable=True,
            ) from exc
        except Exception as exc:
            raise ProviderError(
                f"local function {model!r} raised {type(exc).__name__}; fix the function",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.UNKNOWN,
            ) from exc
        if not isinstance(result, str | Answer | Completion):
            raise ProviderError(
                f"local function {model!r} returned {type(result).__name__}, "
                "not str, Answer or Completion",
                provider=self.provider_id,
                model=model,
                code=ErrorCode.INVALID_RESPONSE,
            )
        return result

    def _unknown(self, model: str) -> ProviderError:
        known = ", ".join(
            [
                "echo",
                "safety",
                *(f"template:{k}" for k in sorted(self.spec.templates)),
                *self.registry.names(),
            ]
        )
        return ProviderError(
            f"no local model {model!r} (known: {known}); register it with "
            "laneway.providers.local.register(name, fn) or add it under `templates:`",
            provider=self.provider_id,
            model=model,
            code=ErrorCode.NOT_CONFIGURED,
        )


def _estimate(request: CompletionRequest, content: str) -> Usage:
    """Rough token counts (four characters a token), so budgets see local work too."""
    return Usage(request.estimated_input_tokens(), max(1, len(content) // 4) if content else 0)
