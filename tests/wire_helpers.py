"""Pieces the adapter tests share: a scripted upstream, a cut stream, small request helpers.

The upstream speaks whatever wire format its scripted `httpx.Response`s carry;
each test module cites the provider documentation its answers follow.
"""

from __future__ import annotations

import contextlib
import gc
import json
import shlex
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from laneway.types import CompletionRequest, Delta, Message, Tool

Handler = Callable[[httpx.Request], httpx.Response]

WEATHER = Tool(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)


class AdapterMaker(Protocol):
    """The `adapters` fixture (conftest.py): a `make(upstream, ...)` for one adapter kind."""

    def __call__(
        self,
        kind: str,
        adapter: Callable[..., Any],
        spec: Callable[..., Any],
        key_env: str,
        key: str,
    ) -> Callable[..., Any]: ...


class Upstream:
    """A scripted fake: records every request, answers from a queue (or raises)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def body(self) -> Any:
        return json.loads(self.requests[-1].content)


class CutStream(httpx.AsyncByteStream):
    """A response body that sends some chunks, then drops the connection."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        raise httpx.ReadError("connection reset by peer")


class Reads(httpx.AsyncByteStream):
    """A response body sent in the given pieces: each is one read of the adapter."""

    def __init__(self, *reads: bytes) -> None:
        self.reads = reads

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.reads:
            yield piece


def chunk_event(**fields: Any) -> bytes:
    """One SSE event of a `chat.completion.chunk` (tests/fixtures/openai/stream_text.sse)."""
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "glm-4.7"}
    return b"data: " + orjson.dumps({**chunk, **fields}) + b"\n\n"


def chunk_text(value: str) -> bytes:
    return chunk_event(choices=[{"index": 0, "delta": {"content": value}, "finish_reason": None}])


CHUNK_FINISH = chunk_event(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
CHUNK_USAGE = chunk_event(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 2})
SSE_DONE = b"data: [DONE]\n\n"


def counting_command(tmp_path: Path, output: str) -> str:
    """A command that counts its runs in a file and prints `output` (a token or JSON)."""
    counter = tmp_path / "runs"
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "sys.stdout.write(sys.argv[1].replace('N', str(n)) + '\\n')\n"
    )
    return shlex.join([sys.executable, str(script), output])


async def collect(stream: AsyncIterator[Delta]) -> list[Delta]:
    return [delta async for delta in stream]


@contextlib.contextmanager
def left_to_the_loop() -> Iterator[list[str]]:
    """The async generators that ended unfinished and unclosed inside the block.

    The event loop closes such a generator in a task of its own (PEP 525's
    finalizer hook): extra work per request that a stream must not leave behind.
    """
    names: list[str] = []
    firstiter, finalizer = sys.get_asyncgen_hooks()

    def record(agen: Any) -> None:
        names.append(agen.__qualname__)
        if finalizer is not None:
            finalizer(agen)

    sys.set_asyncgen_hooks(firstiter, record)
    try:
        yield names
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(firstiter, finalizer)


def ask(text: str = "Hello", **fields: Any) -> CompletionRequest:
    return CompletionRequest(messages=(Message("user", text),), **fields)
