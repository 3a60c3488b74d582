"""`laneway status` shows a breaker a scripted failure opened: from a running server's
memory (`--url`, its `GET /admin/status`) and from a shared Redis read directly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
import redis.asyncio as aioredis
from server_harness import Serve, fake_config
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.clock import FakeClock
from laneway.engine.gateway import Gateway
from laneway.errors import LanewayError
from laneway.events import BreakerChanged
from laneway.types import CompletionRequest, TaskContext

ADMIN = "admin-test-key"
HI = [{"role": "user", "content": "hi"}]


def status(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["status", "--json", *args], env={"LANEWAY_ADMIN_KEY": ""})
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_status_from_a_server_shows_the_breaker_a_failure_opened(serve: Serve) -> None:
    config = fake_config(
        breaker={"failure_threshold": 1, "open_s": 60},
        server={"admin_key": ADMIN, "keys": [{"key": "client", "rpm": 5, "budget_usd": 2}]},
    )
    server = serve(config)
    server.fake.enqueue("c", error_code="unavailable", status=503)
    with pytest.raises(openai.APIStatusError):
        server.client("client").chat.completions.create(model="chat", messages=HI)
    opened = server.wait_for(lambda e: isinstance(e, BreakerChanged) and e.new == "open")
    assert isinstance(opened, BreakerChanged)

    report = status("--url", server.url, "--admin-key", ADMIN)
    (breaker,) = report["breakers"]
    assert breaker == {
        "model": "fake/c",
        "state": "open",
        "opened_at": opened.ts,
        "next_probe_at": opened.ts + 60,
    }
    assert report["state_url"] == "memory://"
    (window,) = report["rate_limits"]
    assert (window["limit"], window["remaining"]) == ("5/minute", 4)  # one request counted
    (key,) = report["keys"]
    assert (key["budget_usd"], key["spent_usd"], key["left_usd"]) == (2, 0.0, 2)
    shown = CliRunner().invoke(
        app, ["status", "--url", server.url, "--admin-key", ADMIN], env={"COLUMNS": "120"}
    )
    assert shown.exit_code == 0, shown.output
    assert "fake/c" in shown.output
    assert "open" in shown.output
    assert "due: the next request probes" in shown.output  # the fake clock is in 2023
    assert "quarantined credentials: not kept by this state store" in shown.output


def test_status_without_the_admin_key_says_which_key(serve: Serve) -> None:
    server = serve(fake_config(server={"admin_key": ADMIN}))
    result = CliRunner().invoke(app, ["status", "--url", server.url], env={"LANEWAY_ADMIN_KEY": ""})
    assert result.exit_code == 1
    assert "wants the admin key" in result.output


def test_status_of_a_memory_config_points_at_the_server(tmp_path: Path) -> None:
    path = tmp_path / "laneway.yaml"
    path.write_text("providers: {fake: {kind: fake}}\nlanes: {chat: {primary: fake/c}}\n")
    result = CliRunner().invoke(app, ["status", "-c", str(path)])
    assert result.exit_code == 1
    assert "laneway status --url" in result.output


@pytest.mark.redis
def test_status_reads_a_shared_redis_directly(redis_url: str, tmp_path: Path) -> None:
    """The default key prefix (`laneway:`) in the test database, emptied before and after."""
    path = tmp_path / "laneway.yaml"
    path.write_text(
        "providers: {fake: {kind: fake}}\n"
        "lanes: {chat: {primary: fake/c, budget: {usd_per_job: 1.0}}}\n"
        "retry: {unavailable: {retries: 0}}\n"
        "breaker: {failure_threshold: 1, open_s: 30}\n"
        f"state: {{url: '{redis_url}'}}\n"
        "audit: {enabled: false}\n"
    )
    clock = FakeClock()

    async def trip() -> None:
        await _flush(redis_url)
        async with Gateway.from_config(path, env={}, clock=clock) as gateway:
            fake: Any = gateway.adapter("fake")
            fake.enqueue("c", error_code="unavailable", status=503)
            with pytest.raises(LanewayError):
                await gateway.complete(CompletionRequest.from_prompt("hi"), TaskContext("chat"))

    asyncio.run(trip())
    try:
        report = status("-c", str(path))
    finally:
        asyncio.run(_flush(redis_url))
    (breaker,) = report["breakers"]
    assert breaker["model"] == "fake/c"
    assert breaker["state"] == "open"
    assert breaker["opened_at"] == clock.wall()
    assert breaker["next_probe_at"] == clock.wall() + 30
    assert report["source"] == str(path)


async def _flush(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match="laneway:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
