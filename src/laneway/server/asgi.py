"""Raw ASGI plumbing: request facts, responses, bounded body reads, disconnect watch.

No framework on the hot path (docs/performance.md): a request is a scope, two
callables and a handful of headers read once.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from laneway.clock import Clock, Timer
from laneway.engine.tasks import TaskSupervisor
from laneway.server.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON = (b"content-type", b"application/json")
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request: its route, the server's id for it, and its headers by name.

    A header is read where it is used, not copied into a field of its own: most
    requests carry a dozen (an SDK's `x-stainless-*`) and a handler reads four.
    """

    method: str
    path: str
    request_id: str  # always the server's own: it keys the audit row
    headers: Mapping[bytes, bytes]  # lower-case names, as ASGI gives them; the last one wins

    @property
    def content_length(self) -> int | None:
        value = self.headers.get(b"content-length")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def client_request_id(self) -> str | None:
        """The caller's X-Request-Id, echoed and audited; None unless it is a safe token."""
        value = self.headers.get(b"x-request-id")
        if value is None or not _SAFE_REQUEST_ID.match(value):
            return None
        return value.decode("ascii")

    @property
    def anthropic(self) -> dict[str, str] | None:
        """The anthropic-* headers, for /v1/messages."""
        found = {
            name.decode("latin-1"): value.decode("latin-1").strip()
            for name, value in self.headers.items()
            if name.startswith(b"anthropic-")
        }
        return found or None


def read_request(scope: Scope, new_id: Callable[[], str]) -> Request:
    return Request(
        method=scope["method"],
        path=scope["path"],
        request_id=new_id(),
        headers=dict(scope["headers"]),
    )


#: typographic characters routing reasons use, spelled in ASCII
_ASCII_SPELLING = str.maketrans(
    {"—": "-", "–": "-", "→": "->", "←": "<-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "..."}
)
_HEADER_CACHE_MAX = 4096


def header_values() -> Callable[[str, int], bytes]:
    """`header_value` with a bounded cache of its own: decisions repeat (one reasoning per
    lane and rule), and `functools.lru_cache` answers a repeat without a Python call."""
    return functools.lru_cache(maxsize=_HEADER_CACHE_MAX)(header_value)


def header_value(text: str, limit: int = 512) -> bytes:
    """Printable ASCII only, bounded: safe in any HTTP header whatever the model said."""
    if not text.isascii():
        text = text.translate(_ASCII_SPELLING).encode("ascii", "replace").decode("ascii")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else "?" for c in text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text.encode("ascii")


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Send, error: ApiError, headers: Headers) -> None:
    headers.append(JSON)
    headers.extend((name.encode(), value.encode()) for name, value in error.headers.items())
    await respond(send, error.status, error.body(), headers)


def body_too_large(limit: int, setting: str = "server.max_body_bytes") -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than this server's limit of {limit} bytes ({setting})",
        type="invalid_request_error",
        code="request_too_large",
    )


async def read_body(
    receive: Receive,
    *,
    limit: int,
    declared: int | None,
    timeout_s: float,
    setting: str = "server.max_body_bytes",
) -> bytes:
    """The whole body, never holding more than `limit` bytes; 413 past it, 408 if it stalls.

    `setting` names where the limit comes from, for the 413's message.
    """
    if declared is not None and declared > limit:
        raise body_too_large(limit, setting)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise body_too_large(limit, setting)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {timeout_s:g} s",
            type="invalid_request_error",
            code="request_timeout",
        ) from None


class ClientGone(Exception):
    """The client disconnected; nothing more is sent."""


#: seconds a request runs before its disconnect watcher starts (see DisconnectWatch)
WATCH_AFTER_S = 0.05


class DisconnectWatch:
    """Cancels the request's task when the client disconnects, so the provider call stops.

    Enter it (`with`: nothing in it awaits) after the body is read: from then on
    the only message `receive` can deliver is `http.disconnect`. On exit the
    watcher is cancelled; a cancellation it caused becomes `ClientGone` (there is
    nobody left to answer).

    The watcher task starts only once the request has run `after_s`: most
    answers come sooner, and a task per request was a measurable share of the
    server's CPU (docs/performance.md, `## Server`). A client that leaves
    earlier is noticed at that moment, so a provider call outlives its client
    by at most `after_s`.
    """

    __slots__ = (
        "_after_s",
        "_clock",
        "_receive",
        "_supervisor",
        "_task",
        "_timer",
        "_watcher",
        "disconnected",
    )

    def __init__(
        self,
        receive: Receive,
        supervisor: TaskSupervisor,
        clock: Clock,
        *,
        after_s: float = WATCH_AFTER_S,
    ) -> None:
        """`clock` times the watcher's start (a test's fake clock moves it by hand)."""
        self._receive = receive
        self._supervisor = supervisor
        self._clock = clock
        self._after_s = after_s
        self._task: asyncio.Task[Any] | None = None
        self._timer: Timer | None = None
        self._watcher: asyncio.Task[Any] | None = None
        self.disconnected = False

    def __enter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        if self._after_s > 0:
            self._timer = self._clock.call_later(self._after_s, self._start)
        else:
            self._start()
        return self

    def settle(self) -> None:
        """The answer is whole: from now on a client that leaves cancels nothing (a stream's
        record, filed after its last chunk, must not turn `interrupted`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    def _start(self) -> None:
        self._timer = None
        self._watcher = self._supervisor.start(self._watch(), name="laneway-disconnect-watch")

    async def _watch(self) -> None:
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.disconnected = True
        if self._task is not None:
            self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
        if self.disconnected and exc_type is asyncio.CancelledError and self._task is not None:
            self._task.uncancel()
            raise ClientGone from None
