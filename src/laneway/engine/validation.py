"""Output validation per lane: parse JSON, check the schema or pydantic model, run
custom validators, scan for PII. A failure rejects the output (the engine moves to
the next model); nothing is silently repaired.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from laneway.config.output_schema import schema_violations
from laneway.engine.pii import scan
from laneway.errors import ErrorCode, OutputRejectedError
from laneway.types import Answer, Completion

#: A custom check: return None when the output is fine, else a short reason.
Validator = Callable[[str, Any], str | None]


@dataclass(frozen=True, slots=True)
class OutputPolicy:
    """Everything one request's output must satisfy."""

    json_required: bool = False
    schema: Mapping[str, Any] | None = None
    model: type[BaseModel] | None = None
    validators: Sequence[Validator] = ()
    pii_emails: bool = False
    pii_phones: bool = False
    redact: Sequence[str] = field(default_factory=tuple)

    @property
    def active(self) -> bool:
        return bool(
            self.json_required
            or self.schema is not None
            or self.model is not None
            or self.validators
            or self.pii_emails
            or self.pii_phones
            or self.redact
        )


def validate_output(
    completion: Answer | Completion, policy: OutputPolicy, *, text_scanned: bool = False
) -> None:
    """Raise `OutputRejectedError` when the completion breaks the policy.

    `text_scanned`: the content passed the PII scan already (a stream's guard saw
    every delta), so only the tool calls' arguments are scanned here: scanning the
    whole answer again was a measurable cost on long streams.
    """
    if not policy.active:
        return
    text = completion.content
    calls = completion.tool_calls
    arguments = "".join(call.arguments for call in calls) if calls else ""
    findings = scan(
        arguments if text_scanned else text + arguments,
        emails=policy.pii_emails,
        phones=policy.pii_phones,
        names=policy.redact,
    )
    if findings:
        reasons = [str(finding) for finding in findings]
        raise OutputRejectedError(
            "output failed the PII scan", code=ErrorCode.PII_LEAK, reasons=reasons
        )
    if policy.json_required or policy.schema is not None or policy.model is not None:
        parsed = _parse(text)
        reasons = _structural_problems(parsed, policy)
    else:  # most lanes ask for a PII scan alone
        parsed, reasons = None, []
    if policy.validators:  # a comprehension is a function call even over nothing
        reasons += [r for v in policy.validators if (r := _run_validator(v, text, parsed))]
    if reasons:
        raise OutputRejectedError(
            "output failed validation", code=ErrorCode.INVALID_RESPONSE, reasons=reasons
        )


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise OutputRejectedError(
            "output is not usable JSON",
            code=ErrorCode.INVALID_RESPONSE,
            reasons=["the JSON is nested too deeply"],
            stage="parse",
        ) from None
    except ValueError as exc:
        raise OutputRejectedError(
            "output is not valid JSON",
            code=ErrorCode.INVALID_RESPONSE,
            reasons=[f"JSON parse error at line {getattr(exc, 'lineno', '?')}: {exc}"[:200]],
            stage="parse",
        ) from None


def _structural_problems(parsed: Any, policy: OutputPolicy) -> list[str]:
    problems: list[str] = []
    if policy.schema is not None:
        problems += schema_violations(policy.schema, parsed)
    if policy.model is not None:
        try:
            policy.model.model_validate(parsed)
        except ValidationError as exc:
            for error in exc.errors()[:5]:
                where = ".".join(str(p) for p in error["loc"]) or "(root)"
                problems.append(f"{policy.model.__name__}: {where}: {error['msg']}"[:200])
    return problems


def _run_validator(validator: Validator, text: str, parsed: Any) -> str | None:
    name = getattr(validator, "__name__", "validator")
    try:
        reason = validator(text, parsed)
    except Exception as exc:  # a user's validator must not crash the attempt loop
        return f"{name} raised {type(exc).__name__}: {exc}"[:200]
    return f"{name}: {reason}"[:200] if reason else None
