"""Caller identity never reaches a provider: a whole Gateway call, every request on the wire.

The upstream speaks the Messages API and Chat Completions wire formats (sources
in `engine_scenario`); it keeps every request so the test can search all of it.
"""

from __future__ import annotations

from engine_scenario import (
    ANTHROPIC_HOST,
    KEYS,
    REAL_PROVIDERS,
    ZAI_HOST,
    Upstream,
    anthropic_error,
    anthropic_message,
    ask,
    config,
    gateway,
    openai_completion,
)

from laneway.types import TaskContext

USER_ID = "user-9c1e-PRIVATE-never-send"
METADATA = {"patient": "Orla Private-Quince", "ticket": "TCK-PRIVATE-4471"}
JOB_ID = "job-PRIVATE-0042"
FORBIDDEN = [USER_ID, JOB_ID, *METADATA.values()]


def context(lane: str, **extra: object) -> TaskContext:
    return TaskContext(lane=lane, user_id=USER_ID, job_id=JOB_ID, metadata=METADATA, **extra)  # type: ignore[arg-type]


async def test_no_user_id_or_metadata_in_any_request_body_or_header() -> None:
    upstream = Upstream()
    upstream.queue(
        ANTHROPIC_HOST,
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_message("fine"),
    )
    upstream.queue(ZAI_HOST, openai_completion("ok"), openai_completion("ok"))
    cfg = config(
        {
            "planning": {"primary": "anthropic/claude-opus-4-5", "fallback": ["zai/glm-4.7"]},
            "coding": {"primary": "zai/glm-4.7"},
        },
        providers=REAL_PROVIDERS,
        retry={"unavailable": {"retries": 0}},
    )
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        first = await gw.complete(ask("plan the work"), context("planning"))
        second = await gw.complete(ask("write the code"), context("coding"))
        third = await gw.complete(ask("plan again"), context("planning"))

    assert first.model.startswith("glm")
    assert second.model.startswith("glm")
    assert third.model == "claude-opus-4-5"
    assert len(upstream.requests) == 4
    wire = upstream.wire()
    assert "plan the work" in wire  # the search does see the payloads
    for value in FORBIDDEN:
        assert value not in wire


async def test_redact_names_are_deidentified_before_the_adapter() -> None:
    upstream = Upstream()
    upstream.queue(ZAI_HOST, openai_completion("ok"))
    cfg = config({"coding": {"primary": "zai/glm-4.7"}}, providers=REAL_PROVIDERS)
    async with gateway(cfg, env=KEYS, transport=upstream.transport()) as gw:
        ctx = context("coding", redact=("Orla Quince",))
        await gw.complete(ask("email Orla Quince about the bug"), ctx)

    wire = upstream.wire()
    assert "Orla Quince" not in wire
    assert "email [person-1] about the bug" in wire
