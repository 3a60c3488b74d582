"""A request the engine refuses before it starts still ends as exactly one record."""

from __future__ import annotations

import pytest
from engine_scenario import Events, ask, config, gateway

from laneway.errors import ConfigError
from laneway.events import RequestFinished, RequestStarted
from laneway.types import TaskContext


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
