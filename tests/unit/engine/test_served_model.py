"""The model a request was served by is the configured `provider/model`; the name the
upstream reported for it is kept beside it, never in its place.

The upstream is the OpenAI Chat Completions wire (engine_scenario's sources):
its response's `model` field is the upstream's own name, here a dated version,
as real providers report (openai-openapi.yaml `CreateChatCompletionResponse.model`).
"""

from __future__ import annotations

from engine_scenario import (
    KEYS,
    ZAI_HOST,
    Events,
    Upstream,
    ask,
    config,
    gateway,
    openai_completion,
)

from laneway.events import RequestFinished
from laneway.types import ModelRef, TaskContext

GLM = ModelRef("zai", "glm-4.7")


async def test_a_dated_upstream_name_does_not_replace_the_configured_model() -> None:
    upstream = Upstream()
    upstream.queue(ZAI_HOST, openai_completion("ok", model="glm-4.7-20251222"))
    events = Events()
    cfg = config(
        {"coding": {"primary": str(GLM)}},
        providers={"zai": {"kind": "openai_compatible", "preset": "zai"}},
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        gw.subscribe(events)
        done = await gw.complete(ask(), TaskContext(lane="coding"))
    assert done.model_ref == GLM
    assert done.provider_model == "glm-4.7-20251222"
    (finished,) = events.of(RequestFinished)
    assert finished.model == GLM
    assert finished.provider_model == "glm-4.7-20251222"
