"""Kill switch, client limits, degraded lanes, disconnects, admin and probe endpoints."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest
from server_harness import Serve, fake_config

from laneway.clock import SystemClock
from laneway.events import RequestFinished, RequestStarted
from laneway.types import Usage

HI = [{"role": "user", "content": "hi"}]
CODING = b'{"model":"coding","messages":[{"role":"user","content":"hi"}]}'


@contextmanager
def raw_request(port: int, body: bytes, extra_headers: bytes = b"") -> Iterator[socket.socket]:
    """Send one request on a raw socket; leaving the block hangs up without reading."""
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + extra_headers
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + body)
        yield sock


def test_kill_switch_from_env_is_503_and_calls_no_provider(serve: Serve) -> None:
    server = serve(env={"LANEWAY_KILL_SWITCH": "1"})
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="coding", messages=HI)
    assert info.value.status_code == 503
    assert info.value.response.json()["error"]["code"] == "kill_switch"
    assert server.fake.calls == []


def test_kill_switch_from_config(serve: Serve) -> None:
    server = serve(fake_config(server={"kill_switch": True}))
    with pytest.raises(openai.InternalServerError):
        server.client().chat.completions.create(model="coding", messages=HI)
    assert server.fake.calls == []


def test_admin_flips_the_kill_switch_and_only_admins_may(serve: Serve) -> None:
    server = serve(fake_config(server={"keys": [{"key": "user"}], "admin_key": "root"}))
    url = f"{server.url}/admin/kill-switch"
    denied = httpx.post(url, json={"on": True}, headers={"Authorization": "Bearer user"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "admin_required"
    on = httpx.post(url, json={"on": True}, headers={"Authorization": "Bearer root"})
    assert on.json() == {"kill_switch": True}
    with pytest.raises(openai.InternalServerError):
        server.client("user").chat.completions.create(model="coding", messages=HI)
    httpx.post(url, json={"on": False}, headers={"Authorization": "Bearer root"})
    assert server.client("user").chat.completions.create(model="coding", messages=HI).choices
    bad = httpx.post(url, json={"on": "yes"}, headers={"Authorization": "Bearer root"})
    assert bad.status_code == 400


def test_admin_breakers_and_budgets(serve: Serve) -> None:
    server = serve(
        fake_config(server={"keys": [{"key": "k", "name": "t", "budget_usd": 5}], "admin_key": "r"})
    )
    server.client("k").chat.completions.create(model="coding", messages=HI)
    auth = {"Authorization": "Bearer r"}
    breakers = httpx.get(f"{server.url}/admin/breakers", headers=auth)
    assert breakers.status_code == 200
    assert isinstance(breakers.json()["breakers"], dict)
    budgets = httpx.get(f"{server.url}/admin/budgets", headers=auth).json()
    assert budgets["keys"]["t"]["budget_usd"] == 5


def test_client_rpm_is_429_with_retry_after(serve: Serve) -> None:
    server = serve(fake_config(server={"keys": [{"key": "k", "rpm": 2}]}))
    client = server.client("k")
    client.chat.completions.create(model="coding", messages=HI)
    client.chat.completions.create(model="coding", messages=HI)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="coding", messages=HI)
    assert info.value.response.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
    assert len(server.fake.calls) == 2


def test_global_rpm_is_shared_by_all_keys(serve: Serve) -> None:
    server = serve(fake_config(server={"keys": [{"key": "a"}, {"key": "b"}], "global_rpm": 1}))
    server.client("a").chat.completions.create(model="coding", messages=HI)
    with pytest.raises(openai.RateLimitError):
        server.client("b").chat.completions.create(model="coding", messages=HI)


def test_concurrency_slots_per_key(serve: Serve) -> None:
    server = serve(
        fake_config(server={"keys": [{"key": "k", "concurrent": 1}]}), clock=SystemClock()
    )
    server.fake.enqueue("a", delay_s=60)
    with raw_request(server.port, CODING, b"Authorization: Bearer k\r\n"):
        server.wait_for(lambda e: isinstance(e, RequestStarted))
        with pytest.raises(openai.RateLimitError) as info:
            server.client("k").chat.completions.create(model="coding", messages=HI)
        assert info.value.response.json()["error"]["code"] == "concurrency_limit_exceeded"
    server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert server.client("k").chat.completions.create(model="coding", messages=HI).choices


def test_key_budget_is_429_once_spent(serve: Serve) -> None:
    price = {"price": {"input": 1000, "output": 1000}}  # USD per million tokens
    server = serve(
        fake_config(
            providers={"fake": {"kind": "fake", "models": {"c": price}}},
            server={"keys": [{"key": "k", "name": "t", "budget_usd": 5}]},
        )
    )
    server.fake.enqueue("c", text="x", usage=Usage(3000, 3000))  # 6 USD
    server.client("k").chat.completions.create(model="chat", messages=HI)
    with pytest.raises(openai.RateLimitError) as info:
        server.client("k").chat.completions.create(model="chat", messages=HI)
    assert info.value.response.json()["error"]["code"] == "budget_exceeded"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(server.fake.calls) == 1


def test_the_keys_remaining_budget_steers_routing(serve: Serve) -> None:
    price = {"price": {"input": 1000, "output": 1000}}
    server = serve(
        fake_config(
            providers={"fake": {"kind": "fake", "models": {"a": price}}},
            server={"keys": [{"key": "k", "budget_usd": 0.01}]},
        )
    )
    completion = server.client("k").chat.completions.create(model="coding", messages=HI)
    assert completion.model == "fake/b"  # fake/a is priced over what the key has left


def test_degraded_lane_answers_200_with_its_message(serve: Serve) -> None:
    server = serve(
        fake_config(lanes={"soft": {"primary": "fake/d", "degraded": {"message": "try later"}}})
    )
    server.fake.enqueue("d", error_code="unavailable", status=503)
    raw = server.client().chat.completions.with_raw_response.create(model="soft", messages=HI)
    assert raw.status_code == 200
    assert raw.headers["x-laneway-degraded"] == "true"
    assert raw.parse().choices[0].message.content == "try later"


def test_degraded_lane_streams_its_message(serve: Serve) -> None:
    server = serve(
        fake_config(lanes={"soft": {"primary": "fake/d", "degraded": {"message": "try later"}}})
    )
    server.fake.enqueue("d", error_code="unavailable", status=503)
    chunks = list(server.client().chat.completions.create(model="soft", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "try later"


def test_a_disconnect_cancels_the_provider_call(serve: Serve) -> None:
    server = serve(clock=SystemClock())
    server.fake.enqueue("a", delay_s=60)
    with raw_request(server.port, CODING):
        server.wait_for(lambda e: isinstance(e, RequestStarted))
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished), timeout_s=5)
    assert isinstance(finished, RequestFinished)
    assert finished.status == "interrupted"


def test_a_stream_disconnect_cancels_the_provider_stream(serve: Serve) -> None:
    server = serve(clock=SystemClock())
    server.fake.enqueue("a", delay_s=60)
    with raw_request(server.port, CODING[:-1] + b',"stream":true}'):
        server.wait_for(lambda e: isinstance(e, RequestStarted))
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished), timeout_s=5)
    assert isinstance(finished, RequestFinished)
    assert finished.status == "interrupted"


def test_health_ready_and_metrics(serve: Serve) -> None:
    server = serve()
    server.client().chat.completions.create(model="coding", messages=HI)
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'laneway_http_requests_total{route="/v1/chat/completions",status="200"} 1.0' in (
        metrics.text
    )
    assert "laneway_requests_total{" in metrics.text  # the engine's own metrics


def test_readyz_says_which_store_is_not_ready(serve: Serve, tmp_path: Path) -> None:
    """An audit store that cannot open (its directory is a file) fails readiness, and the
    body names that check; a working one passes it."""
    (tmp_path / "not-a-dir").write_text("")
    url = f"sqlite:///{tmp_path}/not-a-dir/a.db"
    broken = serve(fake_config(audit={"enabled": True, "url": url}))
    ready = httpx.get(f"{broken.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "config": True,
        "started": True,
        "limits_store": True,
        "audit_store": False,
        "state_store": True,
    }
    assert ready.json()["down"] == ["audit_store"]
    working = serve(fake_config(audit={"enabled": True, "url": f"sqlite:///{tmp_path}/a.db"}))
    ready = httpx.get(f"{working.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["audit_store"] is True


def test_every_response_carries_a_request_id(serve: Serve) -> None:
    server = serve()
    mine = httpx.get(f"{server.url}/healthz", headers={"x-request-id": "abc-123"})
    # the caller's id is echoed in its own header; the request id is always the server's
    assert mine.headers["x-client-request-id"] == "abc-123"
    assert len(mine.headers["x-request-id"]) == 32
    assert mine.headers["x-request-id"] != "abc-123"
    unsafe = httpx.get(f"{server.url}/healthz", headers={"x-request-id": "a b\tc"})
    assert "x-client-request-id" not in unsafe.headers
    assert len(unsafe.headers["x-request-id"]) == 32
