"""The `local` kind: built-ins, registered callables (sync and async), streaming."""

from __future__ import annotations

import json

import pytest

from laneway.clock import FakeClock
from laneway.config.schema import LocalProvider
from laneway.errors import ErrorCode, ProviderError
from laneway.http import HttpxTransport
from laneway.providers import local
from laneway.providers.base import AdapterDeps
from laneway.providers.local import LocalAdapter, LocalRegistry
from laneway.types import (
    Answer,
    Completion,
    CompletionRequest,
    FinishDelta,
    FinishReason,
    ResponseFormat,
    TextDelta,
    Usage,
    UsageDelta,
)

REQUEST = CompletionRequest.from_prompt("is this safe to run?", system="classify")


@pytest.fixture
def registry() -> LocalRegistry:
    return LocalRegistry()


def make(registry: LocalRegistry, **templates: str) -> LocalAdapter:
    deps = AdapterDeps(transport=HttpxTransport(), clock=FakeClock())
    return LocalAdapter(
        "local", LocalProvider(kind="local", templates=templates), deps, registry=registry
    )


async def test_echo_answers_the_last_user_message(registry: LocalRegistry) -> None:
    completion = await make(registry).complete(REQUEST, "echo", timeout_s=1)
    assert completion.content == "is this safe to run?"
    assert completion.finish_reason is FinishReason.STOP
    assert completion.usage.input_tokens > 0


async def test_echo_answers_json_when_json_is_asked(registry: LocalRegistry) -> None:
    request = CompletionRequest(REQUEST.messages, response_format=ResponseFormat("json_object"))
    completion = await make(registry).complete(request, "echo", timeout_s=1)
    assert json.loads(completion.content) == {"echo": "is this safe to run?"}


async def test_template_fills_in_the_prompt(registry: LocalRegistry) -> None:
    adapter = make(registry, offline="Offline. You asked: {prompt}")
    completion = await adapter.complete(REQUEST, "template:offline", timeout_s=1)
    assert completion.content == "Offline. You asked: is this safe to run?"


async def test_sync_function(registry: LocalRegistry) -> None:
    seen: list[CompletionRequest] = []

    def safety(request: CompletionRequest) -> str:
        seen.append(request)
        return "risk: low"

    registry.register("safety", safety)
    completion = await make(registry).complete(REQUEST, "safety", timeout_s=1)
    assert completion.content == "risk: low"
    assert seen == [REQUEST]


async def test_async_function_returning_a_completion(registry: LocalRegistry) -> None:
    async def classifier(request: CompletionRequest) -> Completion:
        return Completion("high", "ignored", "ignored", finish_reason=FinishReason.LENGTH)

    registry.register("classifier", classifier)
    completion = await make(registry).complete(REQUEST, "classifier", timeout_s=1)
    assert (completion.content, completion.finish_reason) == ("high", FinishReason.LENGTH)


async def test_function_returning_an_answer(registry: LocalRegistry) -> None:
    def classifier(request: CompletionRequest) -> Answer:
        return Answer("low", usage=Usage(7, 1))

    registry.register("classifier", classifier)
    answer = await make(registry).complete(REQUEST, "classifier", timeout_s=1)
    assert (answer.content, answer.usage.input_tokens, answer.usage.output_tokens) == ("low", 7, 1)


async def test_function_errors_become_provider_errors(registry: LocalRegistry) -> None:
    def broken(request: CompletionRequest) -> str:
        raise KeyError("oops")

    registry.register("broken", broken)
    with pytest.raises(ProviderError) as caught:
        await make(registry).complete(REQUEST, "broken", timeout_s=1)
    assert caught.value.code is ErrorCode.UNKNOWN
    assert "KeyError" in caught.value.message


async def test_unknown_model_is_not_configured_and_lists_known(registry: LocalRegistry) -> None:
    registry.register("safety", lambda request: "ok")
    with pytest.raises(ProviderError) as caught:
        await make(registry, offline="x").complete(REQUEST, "nope", timeout_s=1)
    assert caught.value.code is ErrorCode.NOT_CONFIGURED
    assert "safety" in caught.value.message
    assert "template:offline" in caught.value.message


async def test_stream_yields_word_chunks_then_usage_and_finish(registry: LocalRegistry) -> None:
    deltas = [d async for d in make(registry).stream(REQUEST, "echo", timeout_s=1)]
    texts = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert len(texts) == 5
    assert "".join(texts) == "is this safe to run?"
    assert isinstance(deltas[-2], UsageDelta)
    assert deltas[-1] == FinishDelta(FinishReason.STOP)


def test_built_in_names_are_reserved(registry: LocalRegistry) -> None:
    with pytest.raises(ValueError, match="built-in"):
        registry.register("echo", lambda request: "x")


async def test_module_register_writes_to_the_default_registry() -> None:
    local.register("laneway-test-fn", lambda request: "from default")
    try:
        adapter = LocalAdapter(
            "local",
            LocalProvider(kind="local"),
            AdapterDeps(transport=HttpxTransport(), clock=FakeClock()),
        )
        completion = await adapter.complete(REQUEST, "laneway-test-fn", timeout_s=1)
        assert completion.content == "from default"
    finally:
        local.default_registry.unregister("laneway-test-fn")
