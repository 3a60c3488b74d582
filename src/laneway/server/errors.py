"""Every failure the server can meet, as an OpenAI-shaped error body and a status.

Clients' retry logic (the OpenAI SDKs, LangChain, curl scripts) understands
OpenAI's `{"error": {"message", "type", "param", "code"}}` and the status codes
below, so each laneway error is rendered into exactly that, with our own `code`:

    400 invalid_request_error   malformed JSON, missing or wrong field (param names it),
                                upstream said bad request, context too long
    401 authentication_error    missing or unknown client key
    403 permission_error        lane not allowed for this key, admin key required,
                                `policies:` denied every candidate (code policy_denied)
    404 not_found_error         unknown lane, model or path
    405 invalid_request_error   wrong method on a known path
    408 invalid_request_error   the client stopped sending its body
    413 invalid_request_error   body larger than server.max_body_bytes
    422 invalid_response_error  output failed the lane's validation or PII check (in a
                                stream that has begun: an `error` event with that code)
    429 rate_limit_error        client rate limit / concurrency (Retry-After), or every
                                provider rate-limited (Retry-After)
    429 insufficient_quota      a budget would be passed (never retried: x-should-retry false)
    502 upstream_error          every provider failed on auth or invalid responses
    503 service_unavailable     every provider unavailable, the kill switch on, the
                                state store (state.url) unreachable, or the request cut
                                by the server's shutdown (--graceful-timeout)
    503 not_configured          the lane cannot be served as configured: no model of it
                                has its credentials (the message names what to set);
                                never a lane's degraded answer, which is for provider
                                failures
    504 timeout_error           the lane's total deadline ran out
    500 server_error            a bug in laneway (the message carries the request id)

Budgets answer 429 rather than 402 because OpenAI itself reports an exhausted
quota as 429 `insufficient_quota`, and every OpenAI client already handles it;
`x-should-retry: false` stops the official SDKs from retrying it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from types import MappingProxyType

from laneway.errors import (
    BudgetExceededError,
    ConfigError,
    ErrorCode,
    LanewayError,
    OutputRejectedError,
    PolicyDeniedError,
    ProviderError,
    RequestError,
    RoutingExhaustedError,
)
from laneway.state import StateError

log = logging.getLogger("laneway.server")

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})

#: Final codes that say "the upstream refused us", not "the upstream is down".
_UPSTREAM_BROKEN = frozenset(
    {
        ErrorCode.AUTH.value,
        ErrorCode.INVALID_RESPONSE.value,
        ErrorCode.NOT_CONFIGURED.value,
        ErrorCode.CONTENT_FILTER.value,
        ErrorCode.PII_LEAK.value,
        ErrorCode.UNKNOWN.value,
        "credentials_invalid",
    }
)


class ApiError(LanewayError):
    """An HTTP error answer: status, OpenAI error fields, and extra response headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str,
        code: str,
        param: str | None = None,
        headers: Mapping[str, str] = _NO_HEADERS,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return json.dumps({"error": error}, ensure_ascii=True).encode()

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, code={self.code!r}, param={self.param!r})"


def bad_request(
    message: str, *, param: str | None = None, code: str = "invalid_request"
) -> ApiError:
    return ApiError(400, message, type="invalid_request_error", code=code, param=param)


def not_found(message: str, *, param: str | None = None, code: str = "model_not_found") -> ApiError:
    return ApiError(404, message, type="not_found_error", code=code, param=param)


def rate_limited(message: str, *, code: str, retry_after_s: float) -> ApiError:
    seconds = retry_after_header(retry_after_s)
    return ApiError(
        429,
        message,
        type="rate_limit_error",
        code=code,
        headers={"retry-after": seconds},
    )


#: the longest wait a Retry-After says: an upstream's may be anything (`1e309`, a year)
MAX_RETRY_AFTER_S = 3_600


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 and at most an hour, whatever the upstream said."""
    if math.isnan(seconds):
        return "1"
    return str(max(1, math.ceil(min(seconds, MAX_RETRY_AFTER_S))))


def kill_switch_on() -> ApiError:
    return ApiError(
        503,
        "laneway's kill switch is on: no provider is called until an operator turns it off "
        '(POST /admin/kill-switch {"on": false}, or unset LANEWAY_KILL_SWITCH)',
        type="service_unavailable",
        code="kill_switch",
    )


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "laneway is shutting down and stopped this request once its --graceful-timeout "
        "ran out; send it again",
        type="service_unavailable",
        code="shutting_down",
    )


def internal_error(request_id: str) -> ApiError:
    return ApiError(
        500,
        f"internal error in laneway (request id {request_id}); the server log has the details",
        type="server_error",
        code="internal_error",
    )


def to_api_error(exc: BaseException, request_id: str = "unknown") -> ApiError:
    """Map any exception the engine may raise to the answer a client should see.

    Anything unexpected becomes a 500 naming the request id: that is laneway's bug.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RoutingExhaustedError):
        return _from_exhausted(exc)
    if isinstance(exc, BudgetExceededError):
        return _from_budget(exc)
    if isinstance(exc, PolicyDeniedError):
        return ApiError(
            403,
            f"{exc.message}: " + "; ".join(exc.reasons[:3]),
            type="permission_error",
            code=ErrorCode.POLICY_DENIED.value,
            headers={"x-should-retry": "false"},
        )
    if isinstance(exc, OutputRejectedError):
        reasons = "; ".join(exc.reasons[:3])
        detail = f": {reasons}" if reasons else ""
        return ApiError(
            422,
            f"{exc.message}{detail}",
            type="invalid_response_error",
            code=exc.code.value,
        )
    if isinstance(exc, ProviderError):
        return _from_provider(exc)
    if isinstance(exc, RequestError):
        return bad_request(f"`{exc.param}` {exc.message}", param=exc.param, code="invalid_field")
    if isinstance(exc, StateError):
        return state_unavailable()
    if isinstance(exc, ConfigError) and (exc.path or "").startswith("lanes."):
        return not_found(exc.message, param="model")
    log.error("request %s failed inside laneway", request_id, exc_info=exc)
    return internal_error(request_id)


def state_unavailable(concern: str | None = None) -> ApiError:
    """503 with Retry-After; `concern` names what needed the store (e.g. "this key's budget")
    and the setting that chose to refuse rather than serve from this process's memory."""
    where = f" for {concern}" if concern else ""
    policy = " (state.on_state_error says closed)" if concern else ""
    return ApiError(
        503,
        f"the state store (state.url) is unreachable{where}{policy}; try again shortly",
        type="service_unavailable",
        code="state_unavailable",
        headers={"retry-after": "1"},
    )


def late_stream_error(exc: ProviderError) -> ApiError:
    """A failure after a stream began: one model, no fallback left, so its own code.

    Output the guard or the lane's checks rejected (or garbage) is
    `invalid_response_error` with the model's code, as the 422 of an answer not
    streamed; anything else keeps the code an HTTP answer would have had.
    """
    message = f"the stream from {exc.provider}/{exc.model} failed after it began: {exc.message}"
    if exc.code in (ErrorCode.PII_LEAK, ErrorCode.INVALID_RESPONSE):
        return ApiError(422, message, type="invalid_response_error", code=exc.code.value)
    upstream = _from_provider(exc)
    return ApiError(upstream.status, message, type=upstream.type, code=upstream.code)


def _from_budget(exc: BudgetExceededError) -> ApiError:
    unit = "USD" if exc.unit == "usd" else "tokens"
    return ApiError(
        429,
        f"{exc.scope} budget exceeded: limit {exc.limit:g} {unit}, spent {exc.spent:g}, "
        f"this request needs about {exc.estimate:g} more; raise the budget or wait for it to reset",
        type="insufficient_quota",
        code="budget_exceeded",
        headers={"x-should-retry": "false"},
    )


def not_configured(message: str) -> ApiError:
    """The server's configuration, not a provider, stops the lane: say what to set."""
    return ApiError(
        503,
        f"the lane cannot be served as configured: {message}; "
        "then restart the server (`laneway check` lists what every lane needs)",
        type="service_unavailable",
        code="not_configured",
    )


def _from_provider(exc: ProviderError) -> ApiError:
    """A single provider error reaching the caller: the engine stops only on the caller's fault."""
    if exc.code is ErrorCode.NOT_CONFIGURED:
        return not_configured(exc.message)
    if exc.code is ErrorCode.CONTEXT_LENGTH:
        return bad_request(exc.message, param="messages", code="context_length_exceeded")
    if exc.code is ErrorCode.BAD_REQUEST:
        return bad_request(
            f"the provider rejected the request as malformed: {exc.message}",
            code="upstream_bad_request",
        )
    if exc.code is ErrorCode.CONTENT_FILTER:
        return bad_request(exc.message, code="content_filter")
    return _from_codes([exc.code.value], [exc], exc.message)


def _from_exhausted(exc: RoutingExhaustedError) -> ApiError:
    summary = _summarize(exc)
    if exc.deadline_exhausted:
        return ApiError(
            504,
            f"the lane's total deadline ran out before any model answered: {summary}",
            type="timeout_error",
            code="deadline_exhausted",
        )
    finals = _final_codes(exc)
    if finals and all(code == ErrorCode.NOT_CONFIGURED.value for code in finals):
        return not_configured(summary)
    if finals and all(code == ErrorCode.CONTEXT_LENGTH.value for code in finals):
        return bad_request(
            f"the request is too long for every model of the lane: {summary}",
            param="messages",
            code="context_length_exceeded",
        )
    if finals and all(code == ErrorCode.BAD_REQUEST.value for code in finals):
        return bad_request(
            f"the provider rejected the request as malformed: {summary}",
            code="upstream_bad_request",
        )
    return _from_codes(finals, exc.errors, summary)


def _from_codes(
    finals: list[str], errors: tuple[ProviderError, ...] | list[ProviderError], summary: str
) -> ApiError:
    if finals and all(code == ErrorCode.RATE_LIMIT.value for code in finals):
        waits = [e.retry_after_s for e in errors if e.retry_after_s is not None]
        return rate_limited(
            f"every provider of the lane is rate-limited: {summary}",
            code="upstream_rate_limited",
            retry_after_s=min(waits) if waits else 1.0,
        )
    if finals and all(code in _UPSTREAM_BROKEN for code in finals):
        return ApiError(
            502,
            f"every provider of the lane failed (auth or invalid responses): {summary}",
            type="upstream_error",
            code="upstream_failed",
        )
    waits = [e.retry_after_s for e in errors if e.retry_after_s is not None]
    headers = {"retry-after": retry_after_header(min(waits))} if waits else _NO_HEADERS
    return ApiError(
        503,
        f"every provider of the lane is unavailable: {summary}",
        type="service_unavailable",
        code="upstream_unavailable",
        headers=headers,
    )


def _final_codes(exc: RoutingExhaustedError) -> list[str]:
    """The last outcome of each candidate model, in order: what finally stopped it."""
    last: dict[str, str] = {}
    for attempt in exc.attempts:
        last[str(attempt.model)] = attempt.code
    if not last:
        return [e.code.value for e in exc.errors]
    return list(last.values())


def _summarize(exc: RoutingExhaustedError) -> str:
    parts = [attempt.describe() for attempt in exc.attempts[:8]]
    if len(exc.attempts) > 8:
        parts.append(f"and {len(exc.attempts) - 8} more")
    return "; ".join(parts) or exc.message
