"""Core value objects: what a request, a context, a decision and a result are.

Frozen dataclasses with no I/O, shared by every layer. Provider adapters see
only `CompletionRequest`; `TaskContext` (user id, job id, private metadata)
stays inside laneway and never reaches a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from laneway.errors import ConfigError, ProviderError

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Capability(StrEnum):
    TOOLS = "tools"
    JSON_SCHEMA = "json_schema"
    STREAMING = "streaming"
    VISION = "vision"
    #: continues from a trailing assistant message (stream.continue_on; docs/resilience.md)
    PREFILL = "prefill"


class Complexity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"
    CONTENT_FILTER = "content_filter"


@dataclass(frozen=True, slots=True, order=True)
class ModelRef:
    """`provider/model`: the provider id from config, then the provider's model name."""

    provider: str
    model: str

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        provider, sep, model = text.strip().partition("/")
        if not sep or not provider or not model:
            raise ConfigError(
                f"model {text!r} does not name its provider",
                hint=f"write it as provider/model, e.g. 'openai/{text.strip() or 'gpt-4o'}'",
            )
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    #: prompt tokens read from or written to a provider's prompt cache; None: as `input`
    cache_read: float | None = None
    cache_write: float | None = None

    def cost_usd(
        self, tokens_in: int, tokens_out: int, cache_read: int = 0, cache_write: int = 0
    ) -> float:
        """`tokens_in` counts every prompt token, the cached ones included."""
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        fresh = max(0, tokens_in - cache_read - cache_write)
        total = fresh * self.input + cache_read * read + cache_write * write
        return (total + tokens_out * self.output) / 1_000_000


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What laneway knows of one model: from built-in defaults, genai-prices and config."""

    ref: ModelRef
    capabilities: frozenset[Capability]
    context_window: int | None = None
    max_output_tokens: int | None = None
    price: Price | None = None

    def supports(self, required: frozenset[Capability]) -> bool:
        return required <= self.capabilities

    def output_bound(self, max_tokens: int | None, lane_max: int | None = None) -> int:
        """The max_tokens sent on a lane with a budget: the client's, else the lane's
        `max_output_tokens` or `DEFAULT_MAX_OUTPUT_TOKENS`, never past this model's
        limit (budgets and budget-aware routing share this bound)."""
        if max_tokens is not None:
            return max_tokens
        chosen = lane_max or DEFAULT_MAX_OUTPUT_TOKENS
        cap = self.max_output_tokens
        return chosen if cap is None else min(chosen, cap)


#: the output bound when neither the client, the lane nor the model gives one
DEFAULT_MAX_OUTPUT_TOKENS = 4_096


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Who asks, for which lane and phase. Never sent to a provider."""

    lane: str
    phase: str | None = None
    complexity: Complexity | None = None
    job_id: str | None = None
    user_id: str | None = None
    budget_remaining_usd: float | None = None
    description: str | None = None
    requires: frozenset[Capability] = frozenset()
    prompt_version: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: strings (names, ids) that must never appear in model output
    redact: tuple[str, ...] = ()
    request_id: str | None = None
    #: pin this exact model (no routing, no fallback); the lane still sets budgets and timeouts
    model: ModelRef | None = None
    #: labels `policies:` conditions match (e.g. "private"); never sent to a provider
    tags: frozenset[str] = frozenset()
    #: the server's client-key name for this request (`policies:` `when: {key: ...}`)
    client_key: str | None = None
    #: the client's own X-Request-Id, kept apart from `request_id` (for the audit row)
    client_request_id: str | None = None

    def with_request_id(self, request_id: str) -> TaskContext:
        """A copy carrying `request_id`."""
        return replace(self, request_id=request_id)

    def with_budget_remaining(self, usd: float) -> TaskContext:
        """A copy whose remaining budget is `usd`."""
        return replace(self, budget_remaining_usd=usd)

    def attribute(self, name: str) -> str | None:
        """A routing-rule attribute: a named field first, then metadata."""
        if name in _CONTEXT_ATTRIBUTES:
            value = getattr(self, name)
            return None if value is None else str(value)
        return self.metadata.get(name)


_CONTEXT_ATTRIBUTES = frozenset({"lane", "phase", "complexity", "job_id", "prompt_version"})


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image by URL; `data:` URLs carry inline base64."""

    url: str
    detail: str | None = None
    type: Literal["image"] = "image"


Part = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant", "tool"]
    content: str | tuple[Part, ...] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content if isinstance(part, TextPart))


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"] = "text"
    schema: Mapping[str, Any] | None = None
    name: str = "response"
    strict: bool = True


@dataclass(frozen=True, slots=True)
class WirePayload:
    """A request as the client sent it in one provider's wire format.

    The server's edge for that format fills it; only an adapter speaking the
    same `format` reads `body` and `headers`, so fields laneway does not change
    (signatures, cache hints, new fields) reach the provider unchanged. Other
    adapters use the translated `CompletionRequest` and refuse the request
    when `untranslatable` names a feature their wire cannot say.
    """

    format: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: features only `format` can carry, named for the 400 another wire answers
    untranslatable: tuple[str, ...] = ()
    #: features a translation leaves out on purpose (hints such as thinking, cache_control)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """The canonical request every adapter translates. No caller identity in it."""

    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None  # "auto" | "none" | "required" | a tool name
    response_format: ResponseFormat | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stream: bool = False
    #: the client's own request, for an adapter of the same wire format (pass-through)
    wire: WirePayload | None = None

    @classmethod
    def from_prompt(cls, prompt: str, *, system: str | None = None) -> CompletionRequest:
        messages = (Message("system", system),) if system else ()
        return cls(messages=(*messages, Message("user", prompt)))

    def estimated_input_tokens(self) -> int:
        """A cheap, provider-free estimate: about four characters a token."""
        chars = sum(len(m.text) + 8 for m in self.messages)
        chars += sum(len(t.name) + len(str(t.parameters)) for t in self.tools)
        return max(1, chars // 4)


@dataclass(frozen=True, slots=True)
class Usage:
    """`input_tokens` counts every prompt token; the cache counts say how many of them
    were read from or written to the provider's prompt cache (priced differently)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def priced(self, price: Price) -> Usage:
        """This usage with its cost at `price`, cache reads and writes at their own rates."""
        read, write = self.cache_read_tokens, self.cache_write_tokens
        cost = price.cost_usd(self.input_tokens, self.output_tokens, read, write)
        return replace(self, cost_usd=cost)


@dataclass(frozen=True, slots=True)
class RuleEvaluation:
    """One routing rule as `route --explain` shows it."""

    index: int
    conditions: Mapping[str, Any]
    matched: bool
    why: str
    model: ModelRef | None = None


PolicyVerdict = Literal["allow", "deny", "replace", "not_applicable", "not_reached"]


@dataclass(frozen=True, slots=True)
class PolicyEvaluation:
    """One policy judged against one candidate model (`policies:` in the config)."""

    policy: str
    candidate: ModelRef
    verdict: PolicyVerdict
    reason: str = ""
    replacement: ModelRef | None = None

    def describe(self) -> str:
        """e.g. `review-cap denies cloud/opus: output price $75/Mtok is over the $15 cap`."""
        verb = _POLICY_VERBS.get(self.verdict, self.verdict)
        target = f" with {self.replacement}" if self.replacement is not None else ""
        why = f": {self.reason}" if self.reason else ""
        return f"{self.policy} {verb} {self.candidate}{target}{why}"


_POLICY_VERBS = {"allow": "allows", "deny": "denies", "replace": "replaces"}


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    model: ModelRef
    fallback_chain: tuple[ModelRef, ...]
    reasoning: str
    method: str
    estimated_cost_usd: float | None = None
    endpoint: str | None = None
    rule_index: int | None = None
    explanation: tuple[RuleEvaluation, ...] = ()
    #: what `policies:` changed (deny and replace verdicts), in evaluation order
    policy: tuple[PolicyEvaluation, ...] = ()

    @property
    def candidates(self) -> tuple[ModelRef, ...]:
        return (self.model, *self.fallback_chain)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate tried or skipped. `code` is "success", an ErrorCode value or a skip reason."""

    model: ModelRef
    code: str
    attempt: int
    elapsed_ms: float
    retried: bool = False
    skipped: bool = False
    credential: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == "success"

    def describe(self) -> str:
        if self.skipped:
            return f"{self.model}: skipped ({self.code})"
        retry = ", retried" if self.retried else ""
        return (
            f"{self.model}: {self.code} (attempt {self.attempt}, {self.elapsed_ms:.0f} ms{retry})"
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a provider answered to one call: what `Adapter.complete` returns.

    Only what the provider said: the engine makes it the caller's `Completion`,
    adding the model that served, the price (when the adapter left the cost
    unset), the call's latency, the credential's label and the request's story.
    """

    content: str
    finish_reason: FinishReason = FinishReason.STOP
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    #: the model name the upstream reported (a dated version, an alias's target)
    provider_model: str | None = None
    #: the provider's answer as it came, when the request carried a `WirePayload` of its format
    wire: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    provider: str
    model: str
    finish_reason: FinishReason = FinishReason.STOP
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    decision: RoutingDecision | None = None
    trace: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    request_id: str | None = None
    credential: str | None = None
    #: the model name the upstream reported (a dated version, an alias's target);
    #: `provider`/`model` are the configured model that served
    provider_model: str | None = None
    #: the provider's answer as it came, when the request carried a `WirePayload` of its format
    wire: Mapping[str, Any] | None = None

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(self.provider, self.model)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the never-raising `Gateway.run` returns."""

    status: Literal["ok", "degraded"]
    completion: Completion | None = None
    content: str = ""
    errors: tuple[ProviderError, ...] = ()
    error: str | None = None
    code: str | None = None
    decision: RoutingDecision | None = None
    trace: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# -- streaming deltas -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of tool call `index`: id and name come first, arguments in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageDelta:
    usage: Usage


@dataclass(frozen=True, slots=True)
class FinishDelta:
    finish_reason: FinishReason


@dataclass(frozen=True, slots=True)
class ErrorDelta:
    """Ends a stream that failed after it began; never followed by another delta."""

    error: ProviderError
    trace: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WireEvent:
    """One server-sent event exactly as the provider sent it (pass-through streams only).

    The adapter yields it after the deltas it stands for; text events are not
    repeated here (their `TextDelta`s carry them, screened), everything else is.
    """

    event: str
    data: str
    #: a content block's start or delta (e.g. thinking): the stream has begun its answer
    content: bool = False


Delta = TextDelta | ToolCallDelta | UsageDelta | FinishDelta | ErrorDelta | WireEvent


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """First item of `Gateway.stream`: a provider accepted the stream; no model switch after."""

    model: ModelRef
    decision: RoutingDecision
    trace: tuple[str, ...]
    request_id: str


@dataclass(frozen=True, slots=True)
class StreamDone:
    """Last item of a stream that succeeded: the whole completion, as `complete` returns it."""

    completion: Completion


StreamEvent = StreamOpened | Delta | StreamDone
#: what `Gateway.stream_batches` yields: `StreamOpened`, the deltas of each upstream read
#: as one list (never an `ErrorDelta` among them), then `StreamDone` or one `ErrorDelta`
StreamBatch = StreamOpened | list[Delta] | StreamDone | ErrorDelta
