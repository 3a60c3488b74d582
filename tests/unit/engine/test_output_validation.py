"""Output validation per lane: JSON, schema, pydantic model, custom validators, PII scan.

A rejected output is recorded (`invalid_response` or `pii_leak`) and the next
model is tried; nothing is repaired, and tainted text is never returned.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any

import pytest
from engine_scenario import Events, ask, config, fake, gateway
from pydantic import BaseModel

from laneway.clock import next_pass
from laneway.engine.validation import OutputPolicy, validate_output
from laneway.errors import ConfigError, ErrorCode, OutputRejectedError, RequestError
from laneway.events import RequestFinished
from laneway.types import Completion, ResponseFormat, TaskContext

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
}
LEAK = "write to joe.private@example.com"


def lanes(**lane: Any) -> dict[str, Any]:
    return config({"work": {"primary": "f/a", "fallback": ["f/b"], **lane}})


def everything_said(error: Exception | None = None, **more: Any) -> str:
    """Every string a caller could see: message, reasons, trace, attempts, and more."""
    parts: list[str] = [repr(v) for v in more.values()]
    if error is not None:
        parts += [str(error), repr(error), *getattr(error, "reasons", ())]
        parts += [*error.trace, *(a.describe() for a in error.attempts)]  # type: ignore[attr-defined]
    return "\n".join(parts)


async def test_invalid_json_falls_back_to_the_next_model() -> None:
    gw = gateway(lanes(output_schema=SCHEMA))
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="Sure! Here is the answer: 42")
    fake(gw).enqueue("b", text='{"answer": "42"}')

    done = await gw.complete(ask(), TaskContext(lane="work"))
    await next_pass()  # the finish event follows the answer

    assert done.model == "b"
    assert json.loads(done.content) == {"answer": "42"}
    assert done.trace == ("f/a:invalid_response", "f/b:success")
    assert [a.code for a in done.attempts] == ["invalid_response", "success"]
    assert events.of(RequestFinished)[0].status == "success"


async def test_schema_violation_is_rejected_too() -> None:
    gw = gateway(lanes(output_schema=SCHEMA))
    fake(gw).enqueue("a", text='{"answer": 42}')
    fake(gw).enqueue("b", text='{"reply": "x"}')

    with pytest.raises(OutputRejectedError) as caught:
        await gw.complete(ask(), TaskContext(lane="work"))

    assert caught.value.code is ErrorCode.INVALID_RESPONSE
    assert caught.value.trace == ("f/a:invalid_response", "f/b:invalid_response")
    assert any("answer" in reason for reason in caught.value.reasons)


async def test_all_outputs_unparseable_is_a_parse_error_outcome() -> None:
    gw = gateway(lanes(output_schema=SCHEMA, degraded={"message": "no structured answer"}))
    events = Events()
    gw.subscribe(events)
    fake(gw).enqueue("a", text="nope")
    fake(gw).enqueue("b", text="nope either")

    outcome = await gw.run(ask(), TaskContext(lane="work"))

    assert (outcome.status, outcome.code) == ("degraded", "invalid_response")
    assert outcome.content == "no structured answer"
    assert events.of(RequestFinished)[0].status == "parse_error"


class Plan(BaseModel):
    steps: list[str]
    risky: bool


async def test_a_pydantic_output_model_through_the_library_api() -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", text='{"steps": ["one"], "risky": "perhaps"}')
    fake(gw).enqueue("b", text='{"steps": ["one", "two"], "risky": false}')

    done = await gw.complete(ask(), TaskContext(lane="work"), output_model=Plan)

    assert done.trace == ("f/a:invalid_response", "f/b:success")
    assert Plan.model_validate_json(done.content).steps == ["one", "two"]


def allowed_paths(text: str, parsed: Any) -> str | None:
    """Only files under src/ may be touched."""
    for path in parsed["files"]:
        if not PurePosixPath(path).is_relative_to("src") or ".." in path:
            return f"{path} is outside src/"
    return None


async def test_a_custom_validator_rejects_and_the_next_model_serves() -> None:
    gw = gateway(lanes(output_schema={"type": "object", "required": ["files"]}))
    fake(gw).enqueue("a", text='{"files": ["src/a.py", "/etc/passwd"]}')
    fake(gw).enqueue("b", text='{"files": ["src/a.py"]}')

    done = await gw.complete(ask(), TaskContext(lane="work"), validators=[allowed_paths])

    assert done.model == "b"
    assert done.trace == ("f/a:invalid_response", "f/b:success")


async def test_a_validator_that_raises_rejects_instead_of_crashing() -> None:
    def broken(text: str, parsed: Any) -> str | None:
        raise RuntimeError("bug in the validator")

    gw = gateway(lanes())
    fake(gw).enqueue("a", text="x")
    fake(gw).enqueue("b", text="y")
    outcome = await gw.run(ask(), TaskContext(lane="work"), validators=[broken])
    assert outcome.code == "invalid_response"
    assert outcome.trace == ("f/a:invalid_response", "f/b:invalid_response")


async def test_an_email_in_the_output_is_a_pii_leak_and_falls_back() -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", text=LEAK)
    fake(gw).enqueue("b", text="write to the account owner")

    done = await gw.complete(ask(), TaskContext(lane="work"))

    assert done.trace == ("f/a:pii_leak", "f/b:success")
    assert done.content == "write to the account owner"
    assert "joe.private" not in everything_said(done=done)


async def test_a_pii_leak_everywhere_never_returns_the_tainted_text() -> None:
    gw = gateway(lanes(degraded={"message": "answer withheld"}))
    events = Events()
    gw.subscribe(events)
    for model in ("a", "b", "a", "b"):
        fake(gw).enqueue(model, text=LEAK)

    with pytest.raises(OutputRejectedError) as caught:
        await gw.complete(ask(), TaskContext(lane="work"))
    outcome = await gw.run(ask(), TaskContext(lane="work"))

    assert caught.value.code is ErrorCode.PII_LEAK
    assert caught.value.reasons == ("output contains a email",)
    assert "joe.private" not in everything_said(caught.value)
    assert (outcome.status, outcome.code, outcome.content) == (
        "degraded",
        "pii_leak",
        "answer withheld",
    )
    assert "joe.private" not in everything_said(outcome=outcome)
    assert "joe.private" not in repr(events.seen)
    assert [e.status for e in events.of(RequestFinished)] == ["pii_leak", "pii_leak"]


async def test_names_from_the_redact_list_are_a_pii_leak() -> None:
    gw = gateway(lanes())
    fake(gw).enqueue("a", text="I asked Zed Quill and he agreed")
    fake(gw).enqueue("b", text="I asked the owner and they agreed")

    done = await gw.complete(ask(), TaskContext(lane="work", redact=("Zed Quill",)))

    assert done.trace == ("f/a:pii_leak", "f/b:success")
    assert "Zed Quill" not in everything_said(done=done)


async def test_a_lane_may_turn_the_pii_scan_off() -> None:
    gw = gateway(lanes(pii={"scan": False}))
    fake(gw).enqueue("a", text=LEAK)
    done = await gw.complete(ask(), TaskContext(lane="work"))
    assert done.content == LEAK


async def test_a_request_schema_laneway_cannot_apply_is_refused_before_any_model() -> None:
    """A caller's schema is input: refused with the field named, no provider called,
    and `run` keeps its promise of a degraded outcome instead of an exception."""
    gw = gateway(lanes())
    request = replace(ask(), response_format=ResponseFormat("json_schema", {"$ref": "#/$defs/x"}))
    with pytest.raises(RequestError) as info:
        await gw.complete(request, TaskContext(lane="work"))
    assert info.value.param == "response_format.json_schema.schema"
    assert "resolves to nothing" in info.value.message
    outcome = await gw.run(request, TaskContext(lane="work"))
    assert (outcome.status, outcome.code) == ("degraded", "bad_request")
    assert fake(gw).calls == []


async def test_a_lane_schema_with_a_remote_ref_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="output_schema is not a usable JSON Schema"):
        gateway(lanes(output_schema={"$ref": "https://example.invalid/schema.json"}))


def test_output_nested_past_the_parsers_depth_is_rejected_not_raised() -> None:
    completion = Completion(content="[" * 5_000 + "]" * 5_000, provider="f", model="a")
    with pytest.raises(OutputRejectedError) as info:
        validate_output(completion, OutputPolicy(json_required=True))
    assert info.value.code is ErrorCode.INVALID_RESPONSE
    assert info.value.reasons == ("the JSON is nested too deeply",)
