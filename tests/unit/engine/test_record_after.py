"""A successful request's finish event follows the answer: the caller (a server writing its
response) gets the completion first, and the record keeps the request's own duration."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import orjson
import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.clock import FakeClock, next_pass
from laneway.errors import RoutingExhaustedError
from laneway.events import RequestFinished, RequestStarted
from laneway.types import CompletionRequest, TaskContext

WORK = TaskContext(lane="work")


def one_model() -> dict[str, object]:
    return config({"work": {"primary": "f/a"}})


async def test_complete_returns_before_its_finish_event_which_keeps_the_request_time() -> None:
    clock = FakeClock()
    gw = gateway(one_model(), clock=clock)
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="hi", delay_s=0.25)

    done = await gw.complete(ask(), WORK)

    assert events.names()[0] == "RequestStarted"
    assert events.of(RequestFinished) == []
    clock.advance(5.0)  # what the caller does after the answer is not the request's time
    await next_pass()
    [finished] = events.of(RequestFinished)
    assert (finished.request_id, finished.status) == (done.request_id, "success")
    assert finished.duration_ms == pytest.approx(250.0)
    assert finished.ts == events.of(RequestStarted)[0].ts + 0.25


async def test_run_defers_its_finish_event_the_same_way() -> None:
    gw = gateway(one_model())
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="hi")

    outcome = await gw.run(ask(), WORK)

    assert outcome.status == "ok"
    assert events.of(RequestFinished) == []
    await next_pass()
    assert [e.request_id for e in events.of(RequestFinished)] == [outcome.request_id]


async def test_requests_that_finish_in_one_pass_are_filed_in_the_order_they_returned() -> None:
    gw = gateway(one_model())
    events = Events()
    gw.subscribe(events)
    for text in ("one", "two", "three"):
        fake(gw).enqueue("a", text=text)

    done = await asyncio.gather(*(gw.complete(ask(), WORK) for _ in range(3)))
    await next_pass()

    assert [e.request_id for e in events.of(RequestFinished)] == [d.request_id for d in done]


async def test_aclose_files_what_is_still_waiting() -> None:
    gw = gateway(one_model())
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="hi")

    done = await gw.complete(ask(), WORK)
    await gw.aclose()  # no pass of the loop in between

    assert [e.request_id for e in events.of(RequestFinished)] == [done.request_id]


async def test_a_failure_is_filed_before_the_error_reaches_the_caller() -> None:
    gw = gateway(config({"work": {"primary": "f/a"}}, retry={"unavailable": {"retries": 0}}))
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", error_code="unavailable", status=503)

    with pytest.raises(RoutingExhaustedError):
        await gw.complete(ask(), WORK)

    assert [e.status for e in events.of(RequestFinished)] == ["failed"]


async def test_the_next_request_starts_after_the_last_one_is_filed() -> None:
    gw = gateway(one_model())
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="one")
    fake(gw).enqueue("a", text="two")

    first = await gw.complete(ask(), WORK)
    second = await gw.complete(ask(), WORK)  # at once: no pass of the loop in between
    await next_pass()

    filed = [
        (type(e).__name__, e.request_id)
        for e in events.seen
        if isinstance(e, RequestStarted | RequestFinished)
    ]
    assert filed == [
        ("RequestStarted", first.request_id),
        ("RequestFinished", first.request_id),
        ("RequestStarted", second.request_id),
        ("RequestFinished", second.request_id),
    ]


async def test_the_start_event_hashes_and_keeps_the_de_identified_payload(tmp_path: Path) -> None:
    """`payload_sha256` is the sha256 of the messages as a JSON array of [role, text]
    (docs/audit.md), after the redact names were replaced."""
    audit = {"url": f"sqlite:///{tmp_path / 'audit.db'}", "store_content": True}
    gw = gateway(config({"work": {"primary": "f/a"}}, audit=audit))
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="hi")
    request = CompletionRequest.from_prompt("ask Ada Lovelace, café", system="be brief")

    await gw.complete(request, TaskContext(lane="work", redact=("Ada Lovelace",)))
    await gw.aclose()

    [start] = events.of(RequestStarted)
    pairs = orjson.loads(start.content)
    assert pairs[0] == ["system", "be brief"]
    assert pairs[1][0] == "user"
    assert "Lovelace" not in pairs[1][1]
    assert "café" in pairs[1][1]
    expected = hashlib.sha256(json.dumps(pairs, separators=(",", ":"), ensure_ascii=False).encode())
    assert start.payload_sha256 == expected.hexdigest()
