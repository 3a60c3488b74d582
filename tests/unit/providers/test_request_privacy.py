"""No caller identity reaches a provider: not in the request type, not on the wire.

Adapters only ever receive a `CompletionRequest`; the engine-level version of
this check (a whole Gateway call) lives with the engine.
"""

from __future__ import annotations

import dataclasses
import json

import httpx
import pytest

from laneway.clock import FakeClock
from laneway.config.schema import OpenAICompatibleProvider, OpenAIProvider
from laneway.http import HttpxTransport
from laneway.providers.base import AdapterDeps
from laneway.providers.openai_compatible import OpenAIAdapter, build_request
from laneway.types import (
    CompletionRequest,
    ImagePart,
    Message,
    ResponseFormat,
    TaskContext,
    TextPart,
    Tool,
    ToolCall,
)

USER_ID = "user-7f3a9c-do-not-send"
PRIVATE = {"patient_name": "Jane Quill-Private", "ticket": "TCK-PRIVATE-991"}
CONTEXT = TaskContext(lane="coding", user_id=USER_ID, job_id="job-PRIVATE-1", metadata=PRIVATE)
FORBIDDEN = [USER_ID, "job-PRIVATE-1", *PRIVATE.values()]

FULL_REQUEST = CompletionRequest(
    messages=(
        Message("system", "be brief"),
        Message("user", (TextPart("look"), ImagePart("https://example.com/a.png", "low"))),
        Message("assistant", "", tool_calls=(ToolCall("c1", "search", '{"q": "x"}'),)),
        Message("tool", "result", tool_call_id="c1"),
    ),
    tools=(Tool("search", "search the web", {"type": "object", "properties": {}}),),
    tool_choice="search",
    response_format=ResponseFormat("json_schema", schema={"type": "object"}),
    temperature=0.2,
    top_p=0.9,
    max_tokens=100,
    seed=1,
    stop=("END",),
    stream=True,
)


def test_completion_request_has_no_field_for_caller_identity() -> None:
    names = {field.name for field in dataclasses.fields(CompletionRequest)}
    assert not names & {"user", "user_id", "metadata", "job_id", "context", "extra", "headers"}


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
def test_build_request_never_carries_context_fields(kind: str) -> None:
    spec = OpenAIProvider(kind="openai") if kind == "openai" else _compatible()
    text = json.dumps(build_request(FULL_REQUEST, "m", spec))
    assert "user" not in json.loads(text)
    for value in FORBIDDEN:
        assert value not in text


async def test_nothing_private_on_the_wire() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=b"data: [DONE]\n\n")

    transport = HttpxTransport(transport=httpx.MockTransport(handler))
    adapter = OpenAIAdapter(
        "openai",
        OpenAIProvider(kind="openai", org="org-1"),
        AdapterDeps(transport=transport, clock=FakeClock(), env={"OPENAI_API_KEY": "sk-x"}),
    )
    try:
        _ = [d async for d in adapter.stream(FULL_REQUEST, "m", timeout_s=5)]
    finally:
        await transport.aclose()
    [request] = sent
    wire = request.content.decode() + json.dumps(dict(request.headers)) + str(request.url)
    for value in FORBIDDEN:
        assert value not in wire


def _compatible() -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(kind="openai_compatible", base_url="http://x.test/v1")
