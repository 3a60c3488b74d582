"""A key limited to some lanes pins only the models those lanes reach, plus its `models:` list.

Pinning is `model: provider/model` in the request (docs/server.md, "`model`:
a lane or an explicit model"); the lane it runs under is `X-Laneway-Lane`.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from server_harness import RunningServer, Serve, fake_config

from laneway.errors import ConfigError


def config() -> dict[str, Any]:
    keys = [
        {"key": "chat-only", "name": "chat-only", "lanes": ["chat"]},
        {"key": "coding", "name": "coding", "lanes": ["coding"]},
        {"key": "chat-plus", "lanes": ["chat"], "models": ["fake/mini-*", "fake/a"]},
        {"key": "all"},
    ]
    rules = [
        {
            "when": {"lane": "coding", "complexity": "high"},
            "model": "fake/d",
            "fallback": ["fake/e"],
        },
        {"when": {"phase": "plan"}, "model": "fake/f"},  # no lane condition: every lane
    ]
    return fake_config(server={"keys": keys}, routing={"method": "static", "rules": rules})


def pin(server: RunningServer, key: str, model: str, lane: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}", "x-laneway-lane": lane}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=headers)


@pytest.fixture
def server(serve: Serve) -> RunningServer:
    return serve(config())


@pytest.mark.parametrize("model", ["fake/a", "fake/b", "fake/d", "fake/opus-anything"])
def test_a_lane_key_cannot_pin_another_lanes_or_any_model(
    server: RunningServer, model: str
) -> None:
    answer = pin(server, "chat-only", model, "chat")
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("model_not_allowed", "model")
    assert "chat-only" in error["message"]
    assert "`models`" in error["message"]
    assert server.fake.calls == []


@pytest.mark.parametrize(
    ("key", "model", "lane"),
    [
        ("coding", "fake/b", "coding"),  # a fallback of its lane
        ("coding", "fake/d", "coding"),  # a rule target of its lane
        ("coding", "fake/e", "coding"),  # that rule's fallback
        ("chat-only", "fake/f", "chat"),  # a rule that can fire on any lane
        ("chat-plus", "fake/mini-2", "chat"),  # its models: glob
        ("chat-plus", "fake/a", "chat"),  # its models: exact
        ("all", "fake/anything", "chat"),  # every lane: every model
    ],
)
def test_models_the_keys_lanes_reach_or_its_list_allows_are_pinned(
    server: RunningServer, key: str, model: str, lane: str
) -> None:
    server.fake.enqueue(model.partition("/")[2], text="pinned")
    answer = pin(server, key, model, lane)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-laneway-model"] == model
    assert [name for name, _ in server.fake.calls] == [model.partition("/")[2]]


def test_naming_a_lanes_primary_is_using_the_lane(server: RunningServer) -> None:
    """`fake/c` is chat's primary: the request runs the lane chat, no pin."""
    server.fake.enqueue("c", text="lane")
    assert pin(server, "chat-only", "fake/c", "chat").status_code == 200


def test_a_key_model_of_an_unknown_provider_is_a_config_error(serve: Serve) -> None:
    bad = fake_config(server={"keys": [{"key": "k", "lanes": ["chat"], "models": ["opai/gpt-4o"]}]})
    with pytest.raises(ConfigError, match="unknown provider 'opai'"):
        serve(bad)


def test_the_messages_endpoint_keeps_a_key_to_its_models(server: RunningServer) -> None:
    """`/v1/messages` applies the same pin rule, answered in Anthropic's error shape."""
    body = {"model": "fake/d", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    headers = {
        "x-api-key": "chat-only",
        "x-laneway-lane": "chat",
        "anthropic-version": "2023-06-01",
    }
    answer = httpx.post(f"{server.url}/v1/messages", json=body, headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["type"] == "permission_error"
    assert "may not pin model 'fake/d'" in answer.json()["error"]["message"]
    assert server.fake.calls == []
