"""Pure wire helpers every adapter shares: body decoding, error building, cost.

Each kind's pure wire code raises the `WireProblem`s defined here (a body off
its documented shape, a request the wire cannot say, an error event after the
200); the adapter base (`_base_http.py`) turns them into `ProviderError`s, so
the wire modules need no clock, secret or provider id to report a failure.

Each adapter's `classify_error` reads its own provider's structured error
fields and then calls `error_from_status`, so the status -> `ErrorCode` table
and the retryable rule live in one place. Messages that leave this module are
sanitised: anything shaped like a key or bearer token is masked and the text
is truncated, so a provider echoing our key back can never leak it.

No I/O here: the secrets an adapter sends come from `_secrets.py`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from laneway.config.schema import AuthHeader
from laneway.errors import ErrorCode, ProviderError
from laneway.http import TransportError
from laneway.http.transport import moved_base_url
from laneway.providers.ratelimit import retry_after_s
from laneway.types import ModelInfo, Usage

#: Codes worth retrying on the same model; everything else moves on or stops.
RETRYABLE_CODES: frozenset[ErrorCode] = frozenset(
    {ErrorCode.RATE_LIMIT, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT}
)

#: Structured error codes/types (any provider) that mean "the prompt is too long".
CONTEXT_LENGTH_CODES: frozenset[str] = frozenset(
    {"context_length_exceeded", "model_context_window_exceeded", "string_above_max_length"}
)

_STATUS_CODES: Mapping[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.AUTH,
    403: ErrorCode.AUTH,
    404: ErrorCode.BAD_REQUEST,
    408: ErrorCode.TIMEOUT,
    413: ErrorCode.CONTEXT_LENGTH,
    422: ErrorCode.BAD_REQUEST,
    429: ErrorCode.RATE_LIMIT,
    500: ErrorCode.UNAVAILABLE,
    502: ErrorCode.UNAVAILABLE,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.UNAVAILABLE,
    529: ErrorCode.UNAVAILABLE,
}

_HINTS: Mapping[ErrorCode, str] = {
    ErrorCode.AUTH: "check the provider's API key (or its credential profile) and its access",
    ErrorCode.RATE_LIMIT: "slow down, raise the provider's limits, or add a credential profile",
    ErrorCode.CONTEXT_LENGTH: "shorten the prompt or route to a model with a larger window",
    ErrorCode.BAD_REQUEST: "the request was refused as invalid; check the model name and inputs",
}

_SECRET_PATTERNS = (
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(?:sk|pk|rk|gh[pousr]|github_pat|xai|gsk|AIza)[A-Za-z0-9_-]{12,}"),
    re.compile(r"(?i)\b(?:api[_-]?key|token|secret|password)\s*[:=]\s*['\"]?[^\s'\",}]{6,}"),
    re.compile(r"\b[A-Za-z0-9_-]{40,}\b"),
)
MAX_MESSAGE_CHARS = 300


class WireProblem(Exception):
    """Raised by a kind's pure wire code; the adapter turns it into a `ProviderError`."""


class WireError(WireProblem):
    """A body not in the documented shape; the adapter reports it as invalid_response."""


class WireRequestError(WireProblem):
    """The canonical request cannot be said on this wire; reported as bad_request."""


class StreamFailure(WireProblem):
    """An error event after the 200; carries the status and body `classify_error` reads."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"stream error event (HTTP {status} equivalent)")
        self.status = status
        self.body = body


def auth_headers(secret: str | None, *, header: str, style: AuthHeader) -> dict[str, str]:
    """The header that carries the secret: the kind's own `header`, or a bearer token.

    `style="bearer"` is for OAuth access tokens (e.g. from `api_key_command`),
    which the providers take as `authorization: Bearer`, not as an API key.
    """
    if not secret:
        return {}
    if style == "bearer":
        return {"authorization": f"Bearer {secret}"}
    return {header: secret}


def sanitize_message(text: str | None, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A provider's message made safe to show: secrets masked, one line, at most `limit`."""
    if not text:
        return ""
    clean = " ".join(str(text).split())
    for pattern in _SECRET_PATTERNS:
        clean = pattern.sub("[redacted]", clean)
    if len(clean) > limit:
        clean = clean[: limit - 1].rstrip() + "…"
    return clean


def invalid_response(provider: str, model: str | None, what: str) -> ProviderError:
    """The provider answered, but not in its documented shape."""
    return ProviderError(
        f"unexpected response: {what}",
        provider=provider,
        model=model,
        code=ErrorCode.INVALID_RESPONSE,
    )


def decode_json(data: bytes | str) -> Any:
    """Parse JSON with orjson; ValueError if bad."""
    return orjson.loads(data)


def parse_json_body(provider: str, model: str | None, body: bytes) -> Any:
    """Decode a JSON body; non-JSON or truncated bodies become invalid_response."""
    try:
        return orjson.loads(body)
    except ValueError as exc:
        what = "empty body" if not body.strip() else "the body is not valid JSON (truncated?)"
        raise invalid_response(provider, model, what) from exc


def decode_event(data: str, *, what: str) -> dict[str, Any]:
    """One stream event's JSON object; a `WireError` naming `what` when it is not one."""
    try:
        decoded = orjson.loads(data)
    except ValueError as exc:
        raise WireError(f"a {what} is not valid JSON (truncated?)") from exc
    if not isinstance(decoded, dict):
        raise WireError(f"a {what} is not a JSON object")
    return decoded


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for request bodies; falls back to `json` for what orjson refuses.

    Raises `WireRequestError` for text UTF-8 cannot hold (a lone surrogate in a
    tool's description, say; the engine refuses one in a message before this).
    """
    try:
        return orjson.dumps(payload)
    except TypeError:  # e.g. integers beyond 64 bits, or Mapping types orjson does not know
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        raise WireRequestError(
            f"the request holds a lone UTF-16 surrogate (U+{ord(text[exc.start]):04X}), "
            "which cannot be encoded as UTF-8; decode its source with errors='replace'"
        ) from exc


def code_for_status(
    status: int, *, error_type: str | None = None, error_code: str | None = None
) -> ErrorCode:
    """The `ErrorCode` for a status, refined by structured context-length codes."""
    if error_code in CONTEXT_LENGTH_CODES or error_type in CONTEXT_LENGTH_CODES:
        return ErrorCode.CONTEXT_LENGTH
    return _STATUS_CODES.get(status, ErrorCode.UNKNOWN)


def error_from_status(
    provider: str,
    model: str | None,
    status: int,
    headers: Mapping[str, str],
    *,
    now_wall: float,
    error_type: str | None = None,
    error_code: str | None = None,
    message: str | None = None,
    code: ErrorCode | None = None,
    credential: str | None = None,
) -> ProviderError:
    """A `ProviderError` from an HTTP status and the body's structured fields.

    `code` lets an adapter force the classification it read from a structured
    field (e.g. Anthropic's `overloaded_error`); otherwise the status decides.
    Retry hints come from the headers for rate limits and unavailability.
    """
    if code is None:
        code = code_for_status(status, error_type=error_type, error_code=error_code)
    retryable = code in RETRYABLE_CODES
    wait_s = retry_after_s(headers, now_wall=now_wall) if retryable else None
    detail = sanitize_message(message)
    label = sanitize_message(error_code or error_type, limit=80)  # the provider's words too
    text = f"provider returned HTTP {status}" + (f" ({label})" if label else "")
    if detail:
        text += f": {detail}"
    if hint := _HINTS.get(code):
        text += f"; {hint}"
    return ProviderError(
        text,
        provider=provider,
        model=model,
        code=code,
        retryable=retryable,
        status=status,
        retry_after_s=wait_s,
        credential=credential,
    )


#: what each kind of transport failure is, as the engine's error code: a redirect, an
#: untrusted certificate or a refusing proxy is the provider's configuration (every
#: model of it fails alike until `base_url`, `tls.ca_file` or `proxy:` changes)
_TRANSPORT_CODES: dict[str, ErrorCode] = {
    "timeout": ErrorCode.TIMEOUT,
    "network": ErrorCode.NETWORK,
    "tls": ErrorCode.NOT_CONFIGURED,
    "redirect": ErrorCode.NOT_CONFIGURED,
    "proxy": ErrorCode.NOT_CONFIGURED,
    "invalid": ErrorCode.INVALID_RESPONSE,
}


def from_transport_error(
    provider: str,
    model: str | None,
    exc: TransportError,
    *,
    credential: str | None = None,
    base_url: str | None = None,
) -> ProviderError:
    """A connection-level failure as a `ProviderError` with the code its kind says.

    A redirect that kept the request's path tail names the `base_url` to set.
    """
    code = _TRANSPORT_CODES.get(exc.kind, ErrorCode.NETWORK)
    message = str(exc)
    if base_url is not None and exc.location is not None and exc.url is not None:
        moved = moved_base_url(exc.url, base_url, exc.location)
        if moved is not None:
            message = message.replace(
                "set base_url to the new address", f"set providers.{provider}.base_url to {moved}"
            )
    return ProviderError(
        sanitize_message(message) or code.value,
        provider=provider,
        model=model,
        code=code,
        retryable=code in RETRYABLE_CODES,
        credential=credential,
    )


def with_cost(usage: Usage, info: ModelInfo | None) -> Usage:
    """`usage` with `cost_usd` filled from the model's price, when one is known."""
    if info is None or info.price is None or usage.cost_usd is not None:
        return usage
    return usage.priced(info.price)


#: no answer has more tokens than this; a count past it is garbage, as is a negative one
MAX_TOKEN_COUNT = 10**12


def as_int(value: object) -> int:
    """A token count from a JSON field; anything that is not a count counts as 0."""
    if type(value) is int:  # what every answer sends (a bool is not one)
        return value if 0 <= value <= MAX_TOKEN_COUNT else 0
    if isinstance(value, bool):
        return 0
    if isinstance(value, float):
        value = int(value) if math.isfinite(value) else 0
    elif isinstance(value, str) and value.isdigit() and len(value) <= 13:
        value = int(value)  # Gemini's int64 fields arrive as strings
    if isinstance(value, int) and 0 <= value <= MAX_TOKEN_COUNT:
        return value
    return 0
