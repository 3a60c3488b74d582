"""laneway's error model: one rooted tree, inert values, sanitized messages.

    LanewayError
    ├── ConfigError             a config file, key or override is wrong (file, YAML path, hint)
    ├── RequestError            the caller's request cannot be served as sent (names the field)
    ├── ProviderError           one provider call failed; carries an ErrorCode
    ├── RoutingExhaustedError   every candidate of a decision failed or was skipped
    ├── BudgetExceededError     a request would pass a task/job/token budget
    ├── OutputRejectedError     the output broke the lane's schema, validators or PII scan
    ├── AuditError              the audit store could not be opened, read or written
    ├── StateError              the shared state store (e.g. Redis) failed or is unreachable
    └── ApiError                an HTTP error answer of the server (`laneway.server.errors`)

Constructing an error never logs, counts or renders anything: the engine records
errors and the front ends (CLI, server) render them. Messages never carry a key
or a raw provider body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from laneway.types import Attempt, RoutingDecision


class ErrorCode(StrEnum):
    """Every provider failure, whatever the provider, maps to one of these."""

    RATE_LIMIT = "rate_limit"
    AUTH = "auth"
    TIMEOUT = "timeout"
    NETWORK = "network"
    UNAVAILABLE = "unavailable"
    INVALID_RESPONSE = "invalid_response"
    CONTENT_FILTER = "content_filter"
    CONTEXT_LENGTH = "context_length"
    BAD_REQUEST = "bad_request"
    BUDGET_EXCEEDED = "budget_exceeded"
    CIRCUIT_OPEN = "circuit_open"
    NOT_CONFIGURED = "not_configured"
    PII_LEAK = "pii_leak"
    UNKNOWN = "unknown"


#: Codes that say the provider is unhealthy; only these count towards a breaker.
HEALTH_FAILURES: frozenset[ErrorCode] = frozenset(
    {ErrorCode.TIMEOUT, ErrorCode.NETWORK, ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMIT}
)


class LanewayError(Exception):
    """Root of every error laneway raises on purpose.

    Errors raised by the engine carry the request's story: its id, the routing
    decision, the trace and every attempt (set with `attach`).
    """

    request_id: str | None = None
    decision: RoutingDecision | None = None
    trace: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def attach(
        self,
        *,
        request_id: str | None,
        decision: RoutingDecision | None,
        trace: Sequence[str],
        attempts: Sequence[Attempt],
    ) -> LanewayError:
        self.request_id = request_id
        self.decision = decision
        self.trace = tuple(trace)
        self.attempts = tuple(attempts)
        return self

    def __str__(self) -> str:
        return self.message


class ConfigError(LanewayError):
    """A configuration problem, found at load time, that names where and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        path: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        where = ":".join(part for part in (self.file or "<config>", self.path) if part)
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class RequestError(LanewayError):
    """The caller's request cannot be served as sent; no provider was called.

    `param` names the field, in the OpenAI request's spelling.
    """

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.param = param

    def __str__(self) -> str:
        return f"{self.param}: {self.message}"


class ProviderError(LanewayError):
    """One call to one provider failed. `message` is sanitized: no key, no raw body."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str | None = None,
        code: ErrorCode = ErrorCode.UNKNOWN,
        retryable: bool = False,
        status: int | None = None,
        retry_after_s: float | None = None,
        credential: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.code = code
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.credential = credential

    def __str__(self) -> str:
        target = self.provider + (f"/{self.model}" if self.model else "")
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{target}: {self.code.value}{status}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"ProviderError(provider={self.provider!r}, model={self.model!r}, "
            f"code={self.code.value!r}, status={self.status!r}, retryable={self.retryable!r})"
        )


class RoutingExhaustedError(LanewayError):
    """Every candidate failed or was skipped; `attempts` keeps each one, in order."""

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt],
        decision: RoutingDecision | None = None,
        trace: Sequence[str] = (),
        errors: Sequence[ProviderError] = (),
        deadline_exhausted: bool = False,
    ) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)
        self.decision = decision
        self.trace = tuple(trace)
        self.errors = tuple(errors)
        self.deadline_exhausted = deadline_exhausted

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(attempt.code for attempt in self.attempts)

    def __str__(self) -> str:
        lines = [self.message]
        lines += [f"  - {attempt.describe()}" for attempt in self.attempts]
        return "\n".join(lines)


class BudgetExceededError(LanewayError):
    """A budget would be passed; raised before any provider call."""

    def __init__(
        self,
        message: str,
        *,
        scope: Literal["request", "task", "job", "key"],
        limit: float,
        spent: float,
        estimate: float,
        unit: Literal["usd", "tokens"] = "usd",
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.estimate = estimate
        self.unit = unit
        self.job_id = job_id


class OutputRejectedError(LanewayError):
    """Model output that broke the lane's schema, a validator, or the PII scan."""

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode,
        reasons: Sequence[str] = (),
        stage: Literal["parse", "schema", "validator", "pii"] = "schema",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reasons = tuple(reasons)
        self.stage = stage


class AuditError(LanewayError):
    """The audit store could not be opened or written; the message names the store, not secrets."""


class StateError(LanewayError):
    """The shared state store (e.g. Redis) failed or could not be reached."""


Then = Literal["next_model", "skip_provider", "larger_context", "stop"]


@dataclass(frozen=True, slots=True)
class RetryRule:
    """What to do after one failure code: retry the same model, then move on how."""

    retries: int = 0
    backoff: bool = True
    honour_retry_after: bool = True
    then: Then = "next_model"


DEFAULT_RETRY_TABLE: Mapping[ErrorCode, RetryRule] = {
    ErrorCode.RATE_LIMIT: RetryRule(retries=2, then="next_model"),
    ErrorCode.TIMEOUT: RetryRule(retries=1, then="next_model"),
    ErrorCode.UNAVAILABLE: RetryRule(retries=2, then="next_model"),
    ErrorCode.NETWORK: RetryRule(then="next_model"),
    ErrorCode.AUTH: RetryRule(then="skip_provider"),
    ErrorCode.NOT_CONFIGURED: RetryRule(then="skip_provider"),
    ErrorCode.INVALID_RESPONSE: RetryRule(then="next_model"),
    ErrorCode.CONTEXT_LENGTH: RetryRule(then="larger_context"),
    ErrorCode.CONTENT_FILTER: RetryRule(then="next_model"),
    ErrorCode.BAD_REQUEST: RetryRule(then="stop"),
    ErrorCode.BUDGET_EXCEEDED: RetryRule(then="stop"),
    ErrorCode.CIRCUIT_OPEN: RetryRule(then="next_model"),
    ErrorCode.PII_LEAK: RetryRule(then="next_model"),
    ErrorCode.UNKNOWN: RetryRule(then="next_model"),
}
