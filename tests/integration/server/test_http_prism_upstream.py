"""`laneway serve` in front of Stoplight Prism, the official OpenAI SDK as its client.

The upstream is an `openai_compatible` provider whose base_url is Prism mocking
tests/specs/openai-chat.prism.yaml (OpenAI's own OpenAPI file, chat subset;
tests/specs/README.md). Prism answers 422 to a request body its spec
refuses (tests/integration/test_prism_openai.py checks that it does), and laneway
would turn that 422 into an error for the client: a 200 through laneway, with a trace
of one successful attempt, proves the request laneway built from the SDK's was
spec-valid. Prism's answers are schema-built (static mode) and, for a stream, the
canned SSE example of that spec file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from server_harness import RunningServer, Serve, fake_config

pytestmark = pytest.mark.prism

SPEC = Path(__file__).resolve().parents[2] / "specs" / "openai-chat.prism.yaml"
SYSTEM_AND_USER = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the capital of France?"},
]
LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a thing up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


@pytest.fixture
def server(serve: Serve, prism: Callable[[Path], str]) -> RunningServer:
    """laneway with one lane, `remote`, served by Prism as `prism/gpt-4o`, no retries."""
    provider = {"kind": "openai_compatible", "base_url": prism(SPEC) + "/v1", "api_key": "sk-p"}
    return serve(
        fake_config(providers={"prism": provider}, lanes={"remote": {"primary": "prism/gpt-4o"}})
    )


def test_a_completion_through_laneway_is_a_spec_valid_request_and_a_valid_answer(
    server: RunningServer,
) -> None:
    """Sampling fields, tools, `user` and `metadata` from the SDK: whatever laneway forwards
    of them passed Prism's validation, and the answer the SDK parses is a `chat.completion`."""
    raw = server.client("client-key").chat.completions.with_raw_response.create(
        model="remote",
        messages=SYSTEM_AND_USER,
        tools=[LOOKUP],
        tool_choice="auto",
        temperature=0.2,
        top_p=0.9,
        seed=7,
        stop=["END"],
        max_completion_tokens=32,
        user="alice",
        metadata={"team": "infra"},
    )
    assert raw.status_code == 200
    assert raw.headers["x-laneway-trace"] == "prism/gpt-4o:success"
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.id == f"chatcmpl-{raw.headers['x-request-id']}"
    assert completion.model.startswith("prism/")
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 0  # Prism's schema-built usage


def test_a_stream_through_laneway_relays_prisms_sse_example(server: RunningServer) -> None:
    """A streamed request is spec-valid too, and the spec example's deltas and usage (5 + 4)
    reach the SDK as OpenAI chunks. Prism serves its SSE example only to an accepted request
    sent with `Accept: text/event-stream` (it ignores the body's `stream`, so that field is
    not checked here); its JSON answer would not give this text."""
    with server.client().chat.completions.with_streaming_response.create(
        model="remote",
        messages=SYSTEM_AND_USER,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["x-laneway-trace"] == "prism/gpt-4o:streaming"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Prism."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 4)
