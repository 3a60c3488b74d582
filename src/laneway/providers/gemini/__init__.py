"""`kind: gemini`: generateContent. Pure translation in `wire`, I/O in `adapter`."""

from laneway.providers.gemini.adapter import GeminiAdapter
from laneway.providers.gemini.wire import (
    build_request,
    classify_error,
    parse_response,
    parse_stream_event,
)

__all__ = [
    "GeminiAdapter",
    "build_request",
    "classify_error",
    "parse_response",
    "parse_stream_event",
]
