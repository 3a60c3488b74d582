"""`policies:` through the real server and the official OpenAI SDK.

The client marks a request private with `X-Laneway-Tags` (or `metadata.tags`);
the server's client-key name is the `key` condition. A request the policies
leave no model for is a 403 `policy_denied`, answered before any provider call.
"""

from __future__ import annotations

from typing import Any, cast

import openai
import pytest
from server_harness import FAST_RETRIES, RunningServer, Serve

from laneway.policies import allow, replace
from laneway.providers.fake import FakeAdapter
from laneway.types import ModelInfo, ModelRef, TaskContext

HI = [{"role": "user", "content": "hi"}]
PRIVATE = {"x-laneway-tags": "private"}


def raising_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    if candidate.ref.model == "opus":
        raise ValueError("policy service unreachable")
    return allow()


def replacing_hook(ctx: TaskContext, candidate: ModelInfo) -> object:
    if candidate.ref.model == "opus":
        return replace("cloud/cheap", "opus is reserved for planning")
    return allow()


def policy_config(*policies: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {
            "local": {"kind": "fake", "models": {"small": {"price": {"input": 0, "output": 0}}}},
            "cloud": {
                "kind": "fake",
                "models": {
                    "cheap": {"price": {"input": 0.5, "output": 2}},
                    "opus": {"price": {"input": 15, "output": 75}},
                },
            },
        },
        "lanes": {
            "coding": {"primary": "local/small", "fallback": ["cloud/opus", "cloud/cheap"]},
            "review": {"primary": "cloud/opus", "fallback": ["cloud/cheap"]},
        },
        "server": {
            "keys": [
                {"key": "batch-key", "name": "batch", "budget_usd": 1e-6},
                {"key": "web-key", "name": "web"},
            ]
        },
        "policies": list(policies),
        "audit": {"enabled": False},
        **FAST_RETRIES,
    }


def adapter(server: RunningServer, provider: str) -> FakeAdapter:
    return cast(FakeAdapter, server.gateway.adapter(provider))


def called(server: RunningServer) -> list[str]:
    return [f"{p}/{m}" for p in ("local", "cloud") for m, _ in adapter(server, p).calls]


def hook(name: str) -> dict[str, Any]:
    return {"name": name, "hook": f"{__name__}:{name}"}


PRIVATE_STAYS_LOCAL = {
    "name": "private-stays-local",
    "when": {"tags": ["private"]},
    "allow_providers": ["local"],
}


def test_a_private_request_fails_rather_than_leave_for_the_cloud(serve: Serve) -> None:
    server = serve(policy_config(PRIVATE_STAYS_LOCAL))
    adapter(server, "local").enqueue("small", error_code="unavailable", status=503)
    client = server.client("web-key")
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="coding", messages=HI, extra_headers=PRIVATE)
    assert info.value.status_code == 503
    assert called(server) == ["local/small"]
    trace = info.value.response.headers["x-laneway-trace"]
    assert trace.startswith(
        "cloud/opus:policy_denied:private-stays-local,cloud/cheap:policy_denied:private-stays-local"
    )
    # the same tag in the body's metadata
    adapter(server, "local").enqueue("small", text="kept at home")
    reply = client.chat.completions.create(
        model="coding", messages=HI, metadata={"tags": "fast, private"}
    )
    assert reply.choices[0].message.content == "kept at home"
    # untagged, the lane falls back to the cloud as configured
    adapter(server, "local").enqueue("small", error_code="unavailable", status=503)
    untagged = client.chat.completions.with_raw_response.create(model="coding", messages=HI)
    assert untagged.headers["x-laneway-model"] == "cloud/opus"


def test_a_price_cap_skips_the_expensive_fallback(serve: Serve) -> None:
    cap = {
        "name": "review-cap",
        "when": {"lane": "review"},
        "max_price_usd_per_mtok": {"output": 15},
    }
    server = serve(policy_config(cap))
    raw = server.client("web-key").chat.completions.with_raw_response.create(
        model="review", messages=HI
    )
    assert raw.headers["x-laneway-model"] == "cloud/cheap"
    assert raw.headers["x-laneway-trace"].startswith("cloud/opus:policy_denied:review-cap")
    assert called(server) == ["cloud/cheap"]


def test_budget_escalation_answers_403_before_any_call(serve: Serve) -> None:
    strict = {"name": "strict-budgets", "when": {"key": "batch"}, "on_budget_miss": "block"}
    server = serve(policy_config(strict))
    with pytest.raises(openai.PermissionDeniedError) as info:
        server.client("batch-key").chat.completions.create(model="review", messages=HI)
    body = info.value.response.json()["error"]
    assert (body["type"], body["code"], body["param"]) == (
        "permission_error",
        "policy_denied",
        None,
    )
    assert body["message"].startswith(
        "lane 'review': policies denied every candidate (strict-budgets); no model was called: "
        "cloud/cheap: strict-budgets: est. $"
    )
    assert info.value.response.headers["x-should-retry"] == "false"
    assert called(server) == []
    # the same request under another key is not blocked
    ok = server.client("web-key").chat.completions.create(model="review", messages=HI)
    assert ok.model == "cloud/opus"


def test_a_stream_the_policies_deny_is_a_403_before_it_opens(serve: Serve) -> None:
    server = serve(policy_config({"name": "no-cloud", "deny_providers": ["cloud"]}))
    with pytest.raises(openai.PermissionDeniedError) as info:
        server.client("web-key").chat.completions.create(model="review", messages=HI, stream=True)
    assert info.value.response.json()["error"]["code"] == "policy_denied"
    assert called(server) == []


def test_a_hook_that_raises_denies_that_candidate_only(serve: Serve) -> None:
    server = serve(policy_config(hook("raising_hook")))
    raw = server.client("web-key").chat.completions.with_raw_response.create(
        model="review", messages=HI
    )
    assert raw.headers["x-laneway-model"] == "cloud/cheap"
    assert raw.headers["x-laneway-trace"].startswith("cloud/opus:policy_denied:raising_hook")
    assert called(server) == ["cloud/cheap"]


def test_a_hook_that_replaces_serves_the_replacement(serve: Serve) -> None:
    server = serve(policy_config(hook("replacing_hook")))
    raw = server.client("web-key").chat.completions.with_raw_response.create(
        model="cloud/opus", messages=HI, extra_headers={"x-laneway-lane": "review"}
    )
    assert raw.headers["x-laneway-model"] == "cloud/cheap"
    assert raw.headers["x-laneway-trace"] == (
        "cloud/opus:policy_replaced:replacing_hook,cloud/cheap:success"
    )
    assert called(server) == ["cloud/cheap"]
    assert ModelRef("cloud", "cheap") == ModelRef.parse(raw.headers["x-laneway-model"])
