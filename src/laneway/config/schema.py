"""The shape of `laneway.yaml`: strict pydantic models, one per section.

Phase one of loading (parse). Unknown keys are errors; each provider kind has
its own model, selected by `kind`. Cross-references (a lane naming a missing
provider, a rule naming an unknown lane) are checked in phase two, `resolve`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from laneway.errors import ErrorCode
from laneway.types import Capability, Complexity


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceSpec(Strict):
    """USD per million tokens."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    #: prompt-cache reads and writes (Anthropic-format providers); unset: the input price
    cache_read: Annotated[float, Field(ge=0)] | None = None
    cache_write: Annotated[float, Field(ge=0)] | None = None


class ModelSpec(Strict):
    price: PriceSpec | None = None
    context: Annotated[int, Field(gt=0)] | None = None
    max_output: Annotated[int, Field(gt=0)] | None = None
    capabilities: list[Capability] | None = None


class TimeoutsSpec(Strict):
    attempt_s: Annotated[float, Field(gt=0)] | None = None
    total_s: Annotated[float, Field(gt=0)] | None = None


class ProviderTimeoutsSpec(Strict):
    """A cap on each call to this provider (e.g. a slow local server), under the lane's own."""

    attempt_s: Annotated[float, Field(gt=0)] | None = None


class CredentialSpec(Strict):
    """One credential profile; a provider may list several and rotate on rate_limit/auth."""

    name: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    api_key_command: str | None = None
    #: how long a command's token stays valid when the command does not say
    command_ttl_s: Annotated[float, Field(gt=0)] = 300.0


AuthHeader = Literal["default", "bearer"]
"""How an HTTP provider sends the secret: its kind's own header, or `Authorization: Bearer`."""


class TlsSpec(Strict):
    """TLS to upstreams: `ca_file` is a PEM file of CAs trusted besides the system's."""

    ca_file: str | None = None


class ProviderBase(Strict):
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    api_key_command: str | None = None
    credentials: list[CredentialSpec] = []
    base_url: str | None = None
    headers: dict[str, str] = {}
    #: `default`: the kind's own key header (`x-api-key` for anthropic, `x-goog-api-key`
    #: for gemini, `Authorization: Bearer` for openai kinds). `bearer`: always
    #: `Authorization: Bearer <secret>`, for OAuth access tokens (e.g. from api_key_command).
    auth_header: AuthHeader = "default"
    timeouts: TimeoutsSpec | None = None
    capabilities: list[Capability] | None = None
    models: dict[str, ModelSpec] = {}
    #: a proxy URL for this provider's calls (`http://host:3128`), or `direct` for none
    proxy: str | None = None
    #: CAs trusted for this provider besides the system's (replaces the global tls.ca_file)
    tls: TlsSpec | None = None


class OpenAIProvider(ProviderBase):
    kind: Literal["openai"]
    org: str | None = None
    project: str | None = None


Preset = Literal["github", "zai", "openrouter", "groq", "together", "ollama", "vllm", "llamacpp"]


class OpenAICompatibleProvider(ProviderBase):
    """Any Chat Completions server; `preset` fills base_url, key variable and quirks."""

    kind: Literal["openai_compatible"]
    preset: Preset | None = None
    org: str | None = None  # GitHub Models: org-attributed inference path


AnthropicPreset = Literal["zai", "deepseek", "moonshot", "minimax"]


class AnthropicProvider(ProviderBase):
    """Anthropic, or a vendor serving its Messages API (`preset` fills base_url and key)."""

    kind: Literal["anthropic"]
    anthropic_version: str = "2023-06-01"
    default_max_tokens: Annotated[int, Field(gt=0)] = 4096
    preset: AnthropicPreset | None = None


class GeminiProvider(ProviderBase):
    kind: Literal["gemini"]
    api_version: str = "v1beta"


class LocalProvider(ProviderBase):
    """In-process models: `echo`, `template`, and callables registered by name."""

    kind: Literal["local"]
    templates: dict[str, str] = {}


class FakeProvider(ProviderBase):
    """A scripted provider for tests and demos: answers come from `enqueue(...)`."""

    kind: Literal["fake"]


ProviderSpec = Annotated[
    OpenAIProvider
    | OpenAICompatibleProvider
    | AnthropicProvider
    | GeminiProvider
    | LocalProvider
    | FakeProvider,
    Field(discriminator="kind"),
]


class BudgetSpec(Strict):
    usd_per_task: Annotated[float, Field(ge=0)] | None = None
    usd_per_job: Annotated[float, Field(ge=0)] | None = None
    tokens_per_request: Annotated[int, Field(gt=0)] | None = None
    tokens_per_job: Annotated[int, Field(gt=0)] | None = None


class RetryRuleSpec(Strict):
    retries: Annotated[int, Field(ge=0, le=10)] | None = None
    backoff: bool | None = None
    honour_retry_after: bool | None = None
    then: Literal["next_model", "skip_provider", "larger_context", "stop"] | None = None


class GuardSpec(Strict):
    """Run `lane` first; at `block_at` risk or above, answer `message` without the main model."""

    lane: str
    block_at: Literal["low", "medium", "high"] = "medium"
    action: Literal["pause", "stop"] = "stop"
    message: str = "This request was stopped by the safety check."


class DegradedSpec(Strict):
    message: str


class PiiSpec(Strict):
    scan: bool = True
    emails: bool = True
    phones: bool = True


class LaneSpec(Strict):
    primary: str
    fallback: list[str] = []
    requires: list[Capability] = []
    budget: BudgetSpec | None = None
    timeouts: TimeoutsSpec | None = None
    retry: dict[ErrorCode, RetryRuleSpec] = {}
    output_schema: dict[str, Any] | str | None = None
    guard: GuardSpec | None = None
    degraded: DegradedSpec | None = None
    pii: PiiSpec = PiiSpec()
    description: str | None = None


ConditionValue = str | int | float | bool | list[str]


class RuleSpec(Strict):
    when: dict[str, ConditionValue]
    model: str
    fallback: list[str] | None = None
    lane: str | None = None  # shorthand for when.lane

    @field_validator("when")
    @classmethod
    def _not_empty(cls, value: dict[str, ConditionValue]) -> dict[str, ConditionValue]:
        if not value:
            raise ValueError("a rule needs at least one condition under `when`")
        return value


class LlmEnhancedSpec(Strict):
    routing_model: str
    max_routing_cost_usd: Annotated[float, Field(ge=0)] = 0.01
    timeout_s: Annotated[float, Field(gt=0)] = 3.0
    cache_ttl_s: Annotated[float, Field(ge=0)] = 600.0
    budget_bucket_usd: Annotated[float, Field(gt=0)] = 0.5


class RoutingSpec(Strict):
    method: Literal["null", "static", "llm_enhanced"] = "static"
    rules: list[RuleSpec] = []
    llm_enhanced: LlmEnhancedSpec | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _yaml_null(cls, value: object) -> object:
        return "null" if value is None else value


class BreakerSpec(Strict):
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    window_s: Annotated[float, Field(gt=0)] = 300.0
    open_s: Annotated[float, Field(gt=0)] = 60.0


class BackoffSpec(Strict):
    base_s: Annotated[float, Field(ge=0)] = 0.5
    multiplier: Annotated[float, Field(ge=1)] = 2.0
    max_s: Annotated[float, Field(ge=0)] = 8.0
    jitter: bool = False


class ClientKeySpec(Strict):
    """A client key, plain or `sha256:<hex>`; plain keys are hashed at load and never kept."""

    key: SecretStr
    name: str | None = None
    lanes: list[str] = ["*"]
    rpm: Annotated[int, Field(gt=0)] | None = None
    rph: Annotated[int, Field(gt=0)] | None = None
    concurrent: Annotated[int, Field(gt=0)] | None = None
    budget_usd: Annotated[float, Field(ge=0)] | None = None
    admin: bool = False


class ServerSpec(Strict):
    keys: list[ClientKeySpec] = []
    admin_key: SecretStr | None = None
    global_rpm: Annotated[int, Field(gt=0)] | None = None
    max_body_bytes: Annotated[int, Field(gt=0)] = 4 * 1024 * 1024
    max_messages: Annotated[int, Field(gt=0)] = 1000
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    kill_switch: bool = False
    #: a file of more client keys (digests only), kept by `laneway keys`; relative to the config
    keys_file: str | None = None
    #: client model names (exact, or a glob such as `claude-opus-*`) -> a lane or provider/model
    aliases: dict[str, str] = {}
    #: pass the Messages API's `metadata.user_id` on to Anthropic-format providers
    forward_user_id: bool = False


class AuditSpec(Strict):
    url: str = "sqlite:///laneway.db"
    store_content: bool = False
    store_raw_user_id: bool = False
    durability: Literal["strict", "batched"] = "strict"
    enabled: bool = True


class StateSpec(Strict):
    url: str = "memory://"


class TelemetrySpec(Strict):
    metrics: bool = True
    otel: bool = False


class ConfigSpec(Strict):
    """The whole file."""

    providers: dict[str, ProviderSpec] = {}
    lanes: dict[str, LaneSpec] = {}
    routing: RoutingSpec = RoutingSpec()
    retry: dict[ErrorCode, RetryRuleSpec] = {}
    backoff: BackoffSpec = BackoffSpec()
    breaker: BreakerSpec = BreakerSpec()
    timeouts: TimeoutsSpec = TimeoutsSpec()
    server: ServerSpec = ServerSpec()
    audit: AuditSpec = AuditSpec()
    state: StateSpec = StateSpec()
    telemetry: TelemetrySpec = TelemetrySpec()
    #: the proxy for every provider without its own `proxy:` (else HTTPS_PROXY / HTTP_PROXY)
    proxy: str | None = None
    tls: TlsSpec = TlsSpec()


__all__ = [
    "AnthropicProvider",
    "AuditSpec",
    "BackoffSpec",
    "BreakerSpec",
    "BudgetSpec",
    "ClientKeySpec",
    "Complexity",
    "ConfigSpec",
    "CredentialSpec",
    "DegradedSpec",
    "FakeProvider",
    "GeminiProvider",
    "GuardSpec",
    "LaneSpec",
    "LlmEnhancedSpec",
    "LocalProvider",
    "ModelSpec",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "PiiSpec",
    "PriceSpec",
    "ProviderSpec",
    "RetryRuleSpec",
    "RoutingSpec",
    "RuleSpec",
    "ServerSpec",
    "StateSpec",
    "TelemetrySpec",
    "TimeoutsSpec",
    "TlsSpec",
]
