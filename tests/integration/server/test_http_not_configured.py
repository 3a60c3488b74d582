"""A lane its config cannot serve is a 503 naming what to set, never a degraded 200;
a key from `laneway keys create` is let in.

The config is the one `laneway init` writes, served with no provider key in the
environment; the client is the README's `openai` snippet. A degraded answer
stays for providers that fail (the last test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from server_harness import Serve, fake_config

from laneway.cli.init import example_config
from laneway.cli.keys import create_key
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


def test_a_key_made_by_laneway_keys_gets_a_200_and_no_key_a_401(
    serve: Serve, tmp_path: Path
) -> None:
    """`laneway keys create` writes the keys file; the server accepts exactly that key."""
    config = tmp_path / "laneway.yaml"
    config.write_text("providers: {fake: {kind: fake}}\nlanes: {chat: {primary: fake/c}}\n")
    created = create_key(config, lanes=["chat"])
    server = serve(fake_config(server={"keys_file": str(created.keys_file)}))
    server.fake.enqueue("c", text="hello from fake")
    completion = server.client(created.key).chat.completions.create(model="chat", messages=HI)
    assert completion.choices[0].message.content == "hello from fake"
    with pytest.raises(openai.AuthenticationError):
        server.client("lw-not-a-key").chat.completions.create(model="chat", messages=HI)
