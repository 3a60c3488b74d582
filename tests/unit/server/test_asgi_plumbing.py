"""Bounded body reads and header-safe values: the raw ASGI helpers the hot path uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from laneway.clock import FakeClock, next_pass
from laneway.engine.tasks import TaskSupervisor
from laneway.server.asgi import (
    ClientGone,
    DisconnectWatch,
    header_value,
    header_values,
    read_body,
    read_request,
)
from laneway.server.context import context_fields
from laneway.server.errors import ApiError
from laneway.server.state import ID_BATCH, _random_ids


def receiver(*messages: dict[str, Any]) -> Any:
    queue = list(messages)
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        await never.wait()
        raise AssertionError("unreachable")

    return receive


async def test_chunks_are_joined() -> None:
    receive = receiver(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"cd", "more_body": False},
    )
    assert await read_body(receive, limit=10, declared=None, timeout_s=5) == b"abcd"


async def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    with pytest.raises(ApiError) as info:
        await read_body(receiver(), limit=10, declared=11, timeout_s=5)
    assert info.value.status == 413


async def test_chunks_past_the_limit_are_413_at_once() -> None:
    receive = receiver(
        {"type": "http.request", "body": b"x" * 8, "more_body": True},
        {"type": "http.request", "body": b"x" * 8, "more_body": True},
    )
    with pytest.raises(ApiError) as info:
        await read_body(receive, limit=10, declared=None, timeout_s=5)
    assert info.value.code == "request_too_large"


@pytest.mark.virtual_time  # the 30 s pass on the loop's virtual clock (tests/virtual_time.py)
async def test_a_stalled_body_is_408_and_the_task_is_not_left_cancelled() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    receive = receiver({"type": "http.request", "body": b"{", "more_body": True})
    with pytest.raises(ApiError) as info:
        await read_body(receive, limit=10, declared=None, timeout_s=30)
    assert info.value.status == 408
    assert loop.time() - started == pytest.approx(30)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_a_disconnect_while_reading_is_client_gone() -> None:
    with pytest.raises(ClientGone):
        await read_body(receiver({"type": "http.disconnect"}), limit=10, declared=None, timeout_s=5)


def test_the_headers_a_handler_reads() -> None:
    scope = {
        "method": "POST",
        "path": "/v1/messages",
        "headers": [
            (b"authorization", b"Bearer k"),
            (b"content-length", b"12"),
            (b"x-laneway-lane", b" coding "),
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"content-type", b"application/json"),
            (b"x-api-key", b"ak"),
            (b"anthropic-version", b"2023-06-01"),
            (b"x-request-id", b"mine-1"),
        ],
    }
    req = read_request(scope, lambda: "rid")
    assert (req.method, req.path, req.request_id) == ("POST", "/v1/messages", "rid")
    assert req.headers[b"authorization"] == b"Bearer k"
    assert req.content_length == 12
    assert context_fields(req.headers, {}) == ({"lane": "coding"}, {})
    assert req.anthropic == {"anthropic-version": "2023-06-01"}
    assert req.client_request_id == "mine-1"


def test_an_unsafe_request_id_or_length_is_none() -> None:
    scope = {
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"x-request-id", b"a b"), (b"content-length", b"-1")],
    }
    req = read_request(scope, lambda: "rid")
    assert (req.client_request_id, req.content_length, req.anthropic) == (None, None, None)


def test_request_ids_are_random_hex_and_do_not_repeat_across_batches() -> None:
    ids = _random_ids()
    drawn = [next(ids) for _ in range(3 * ID_BATCH)]
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in drawn)
    assert len(set(drawn)) == len(drawn)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("static: rule 0 matched", b"static: rule 0 matched"),
        ("null: No routing — using lane default", b"null: No routing - using lane default"),
        ("a → b", b"a -> b"),
        ("emoji 🙂 and\nnewline\r", b"emoji ? and?newline?"),
    ],
)
def test_header_values_are_printable_ascii(text: str, value: bytes) -> None:
    assert header_value(text) == value


def test_header_values_are_bounded_and_cached() -> None:
    values = header_values()
    long = "x" * 600
    assert values(long, 100) == b"x" * 97 + b"..."
    assert values(long, 100) is values(long, 100)


async def passes(count: int = 5) -> None:
    for _ in range(count):
        await next_pass()


async def test_a_quick_request_starts_no_disconnect_watcher() -> None:
    supervisor = TaskSupervisor()
    clock = FakeClock()
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with DisconnectWatch(receive, supervisor, clock, after_s=0.05):
        clock.advance(0.049)
        await passes()
    clock.advance(1.0)  # past the delay: the answer came first, so nothing starts
    await passes()
    assert calls == 0
    await supervisor.aclose()


async def test_a_client_leaving_a_long_request_cancels_it_once_the_watch_starts() -> None:
    supervisor = TaskSupervisor()
    clock = FakeClock()
    left = asyncio.Event()
    provider = asyncio.Event()  # a provider call that never answers

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def provider_call() -> None:
        with DisconnectWatch(receive, supervisor, clock, after_s=0.05):
            await provider.wait()

    call = asyncio.ensure_future(provider_call())
    await passes()
    left.set()  # gone before the watcher started: noticed when it starts
    await passes()
    assert not call.done()  # the watch has not started yet
    clock.advance(0.05)
    with pytest.raises(ClientGone):
        await call
    await supervisor.aclose()


async def test_a_settled_watch_lets_the_client_leave_without_cancelling_the_rest() -> None:
    """A stream's last chunk is out; the engine still files its record: not `interrupted`."""
    supervisor = TaskSupervisor()
    clock = FakeClock()
    left = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def answer_then_file() -> str:
        with DisconnectWatch(receive, supervisor, clock, after_s=0.01) as watch:
            clock.advance(0.03)
            await passes()  # the watcher is running by now
            watch.settle()  # the closing chunk went out
            left.set()
            await passes()  # the record, e.g. a state store's round trip
            return "filed"

    assert await answer_then_file() == "filed"
    await supervisor.aclose()
