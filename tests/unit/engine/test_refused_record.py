"""A request the engine refuses before it starts still ends as exactly one record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from engine_scenario import Events, ask, config, fake, gateway

from laneway.errors import ConfigError, RequestError
from laneway.events import RequestFinished, RequestStarted
from laneway.types import CompletionRequest, Message, TaskContext


async def test_an_unknown_lane_is_one_rejected_record_and_no_start() -> None:
    gw = gateway(config({"work": {"primary": "f/a"}}, providers={"f": {"kind": "fake"}}))
    seen = Events()
    gw.subscribe(seen)
    with pytest.raises(ConfigError):
        await gw.complete(ask("hi"), TaskContext(lane="nope", request_id="r1"))
    assert seen.of(RequestStarted) == []
    [finished] = seen.of(RequestFinished)
    assert (finished.request_id, finished.status, finished.error_code) == (
        "r1",
        "rejected",
        "unknown_lane",
    )
    assert finished.trace == ("prepare:unknown_lane",)


async def test_a_lone_surrogate_in_a_message_is_refused_and_audited(tmp_path: Path) -> None:
    """Text UTF-8 cannot hold (half of an emoji pair) is named as the caller's to fix, and
    the request still leaves its one row in a real audit store; no provider is called."""
    cfg = config(
        {"work": {"primary": "f/a"}},
        audit={"url": f"sqlite:///{tmp_path / 'audit.db'}", "store_content": True},
    )
    gw = gateway(cfg)
    seen = Events()
    gw.subscribe(seen)
    request = CompletionRequest(
        messages=(Message("system", "be brief"), Message("user", "hi \udc00"))
    )
    async with gw:
        with pytest.raises(RequestError) as caught:
            await gw.complete(request, TaskContext(lane="work", request_id="r2"))
        assert fake(gw).calls == []
    assert caught.value.param == "messages[1].content"
    assert "U+DC00 at character 3" in str(caught.value)
    assert seen.of(RequestStarted) == []
    [finished] = seen.of(RequestFinished)
    assert (finished.status, finished.error_code) == ("rejected", "bad_request")
    rows = (
        sqlite3.connect(tmp_path / "audit.db")
        .execute("SELECT request_id, status FROM audit_requests")
        .fetchall()
    )
    assert rows == [("r2", "rejected")]
