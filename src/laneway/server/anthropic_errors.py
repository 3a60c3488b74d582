"""Errors of `/v1/messages` in the Anthropic API's own shape, so its SDKs classify them.

The server decides every failure once, as an `ApiError` (errors.py: an
OpenAI-style status, type and laneway code); this module says it again the
way Anthropic's API does (`tests/specs/anthropic-wire-format.md`, "Errors";
https://docs.claude.com/en/api/errors):

    {"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}

    400 invalid_request_error   401 authentication_error   403 permission_error
    404 not_found_error         413 request_too_large      429 rate_limit_error
    500 api_error               504 timeout_error          529 overloaded_error

Every provider being unavailable (503 on chat completions) is 529
`overloaded_error`, which Claude Code and the SDKs back off and retry; the
server's own 503s (kill switch, a lane not configured, the state store down)
stay 503 `api_error`. The
laneway code stays in the `x-laneway-error-code` header; the request id is
both in the body and in `request-id`, where the SDKs read it
(`APIStatusError.request_id`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

from laneway.server.asgi import JSON, Headers, Send, respond
from laneway.server.errors import ApiError

#: our status -> (Anthropic's status, its error.type)
_BY_STATUS: Mapping[int, tuple[int, str]] = MappingProxyType(
    {
        400: (400, "invalid_request_error"),
        401: (401, "authentication_error"),
        403: (403, "permission_error"),
        404: (404, "not_found_error"),
        405: (405, "invalid_request_error"),
        408: (408, "invalid_request_error"),
        413: (413, "request_too_large"),
        422: (422, "invalid_request_error"),
        429: (429, "rate_limit_error"),
        500: (500, "api_error"),
        502: (502, "api_error"),
        503: (529, "overloaded_error"),
        504: (504, "timeout_error"),
    }
)


#: 503s that are this server's own state, not busy upstreams: no 529 (which invites retries)
_OWN_UNAVAILABILITY = frozenset({"kill_switch", "not_configured", "state_unavailable"})


def anthropic_status(error: ApiError) -> tuple[int, str]:
    """(HTTP status, error.type) for one error."""
    if error.code == "upstream_failed":  # our upstreams refused us: not the caller's fault
        return 502, "api_error"
    if error.code in _OWN_UNAVAILABILITY:
        return 503, "api_error"
    return _BY_STATUS.get(error.status, (error.status, "api_error"))


def error_body(error: ApiError, request_id: str) -> bytes:
    _, kind = anthropic_status(error)
    body = {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": request_id,
    }
    return json.dumps(body, ensure_ascii=True).encode()


def error_event(error: ApiError, request_id: str) -> bytes:
    """A failure after a stream began: the `error` event Anthropic's API sends."""
    return b"event: error\ndata: " + error_body(error, request_id) + b"\n\n"


async def respond_anthropic_error(
    send: Send, error: ApiError, headers: Headers, request_id: str
) -> int:
    """Send `error` in Anthropic's shape; return the status sent."""
    status, _ = anthropic_status(error)
    headers.append(JSON)
    headers.append((b"request-id", request_id.encode("ascii")))
    headers.append((b"x-laneway-error-code", error.code.encode("ascii", "replace")))
    headers.extend((name.encode(), value.encode()) for name, value in error.headers.items())
    await respond(send, status, error_body(error, request_id), headers)
    return status
