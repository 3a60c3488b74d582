"""A lane its config cannot serve is a 503 naming what to set, never a degraded 200.

The config is the one `laneway init` writes, served with no provider key in the
environment; the client is the README's `openai` snippet. A degraded answer
stays for providers that fail (the last test).
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
import yaml
from server_harness import Serve, fake_config

from laneway.cli.init import example_config
from laneway.events import RequestFinished

HI = [{"role": "user", "content": "hi"}]


def init_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(example_config())
    config["audit"] = {"enabled": False}
    return config


def test_a_lane_without_its_key_is_a_503_naming_the_variable(serve: Serve) -> None:
    server = serve(init_config(), env={})
    client = server.client()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="coding", messages=HI)
    error = caught.value
    assert error.status_code == 503
    assert error.code == "not_configured"
    assert "ZAI_API_KEY" in error.message
    assert "ANTHROPIC_API_KEY" in error.message
    assert "x-laneway-degraded" not in error.response.headers
    finished = server.wait_for(lambda e: isinstance(e, RequestFinished))
    assert isinstance(finished, RequestFinished)
    assert (finished.status, finished.error_code) == ("failed", "not_configured")


def test_a_stream_to_an_unconfigured_lane_is_the_same_503(serve: Serve) -> None:
    server = serve(init_config(), env={})
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model="coding", messages=HI, stream=True)
    assert caught.value.status_code == 503
    assert caught.value.code == "not_configured"
    assert "ZAI_API_KEY" in caught.value.message


def test_a_lane_without_a_degraded_answer_is_a_503_too(serve: Serve) -> None:
    server = serve(init_config(), env={})
    with pytest.raises(openai.APIStatusError) as caught:
        server.client().chat.completions.create(model="review", messages=HI)
    assert (caught.value.status_code, caught.value.code) == (503, "not_configured")
    assert "ANTHROPIC_API_KEY" in caught.value.message


def test_provider_failures_still_get_the_degraded_answer(serve: Serve) -> None:
    config = fake_config(
        lanes={"chat": {"primary": "fake/c", "degraded": {"message": "later, please"}}}
    )
    server = serve(config)
    server.fake.enqueue("c", error_code="unavailable", status=503)
    raw = server.client().chat.completions.with_raw_response.create(model="chat", messages=HI)
    assert raw.status_code == 200
    assert raw.headers["x-laneway-degraded"] == "true"
    assert raw.parse().choices[0].message.content == "later, please"
