"""laneway: route every piece of LLM work to the right model, and keep it working.

Importing laneway does nothing: no network, no files, no environment reads.
The heavy parts (the engine, pydantic config, HTTP clients) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from laneway.types import (
    Answer,
    Attempt,
    Capability,
    Completion,
    CompletionRequest,
    Complexity,
    FinishReason,
    ImagePart,
    Message,
    ModelRef,
    Outcome,
    ResponseFormat,
    RoutingDecision,
    TaskContext,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

if TYPE_CHECKING:
    from laneway.engine.gateway import Gateway
    from laneway.engine.sync import SyncGateway

__version__ = "0.1.0"

_LAZY = {
    "Gateway": "laneway.engine.gateway",
    "SyncGateway": "laneway.engine.sync",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'laneway' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Answer",
    "Attempt",
    "BudgetExceededError",
    "Capability",
    "Completion",
    "CompletionRequest",
    "Complexity",
    "ConfigError",
    "ErrorCode",
    "FinishReason",
    "Gateway",
    "ImagePart",
    "LanewayError",
    "Message",
    "ModelRef",
    "Outcome",
    "OutputRejectedError",
    "PolicyDeniedError",
    "ProviderError",
    "RequestError",
    "ResponseFormat",
    "RoutingDecision",
    "RoutingExhaustedError",
    "SyncGateway",
    "TaskContext",
    "TextPart",
    "Tool",
    "ToolCall",
    "Usage",
    "__version__",
]
