"""Chat Completions: the `openai` kind and every `openai_compatible` server.

GitHub Models, Z.AI (GLM), OpenRouter, Groq, Together, Ollama, vLLM and
llama.cpp are presets of `openai_compatible` (`config/presets.py`), not
modules. `wire.py` holds the pure translation, `adapter.py` the I/O.
"""

from __future__ import annotations

from laneway.providers.openai_compatible.adapter import OpenAIAdapter
from laneway.providers.openai_compatible.wire import (
    OpenAISpec,
    build_request,
    classify_error,
    parse_response,
    parse_stream_event,
    parse_usage,
)

__all__ = [
    "OpenAIAdapter",
    "OpenAISpec",
    "build_request",
    "classify_error",
    "parse_response",
    "parse_stream_event",
    "parse_usage",
]
