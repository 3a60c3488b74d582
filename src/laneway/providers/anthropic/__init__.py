"""`kind: anthropic`: the Messages API.

Pure translation in `wire` (requests, responses, errors) and `stream` (SSE
events); the I/O in `adapter`.
"""

from laneway.providers.anthropic.adapter import AnthropicAdapter
from laneway.providers.anthropic.stream import parse_stream_event
from laneway.providers.anthropic.wire import build_request, classify_error, parse_response

__all__ = [
    "AnthropicAdapter",
    "build_request",
    "classify_error",
    "parse_response",
    "parse_stream_event",
]
