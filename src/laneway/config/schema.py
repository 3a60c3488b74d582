"""The shape of `laneway.yaml`: strict pydantic models, one per section.

Phase one of loading (parse). Unknown keys are errors; each provider kind has
its own model, selected by `kind`. Cross-references (a lane naming a missing
provider, a rule naming an unknown lane) are checked in phase two, `resolve`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
    #: when a request's worst case does not fit what is left: refuse it, or lower its
    #: max_tokens to what fits (`clamp_output`; the trace says so)
    fit: Literal["refuse", "clamp_output"] = "refuse"


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


class StreamSpec(Strict):
    """`continue_on`: models that may continue a stream cut after content was sent."""

    continue_on: list[str] = []


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
    #: sent as max_tokens when the client sets none, so a budget has an output bound
    max_output_tokens: Annotated[int, Field(gt=0)] | None = None
    stream: StreamSpec = StreamSpec()


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
    #: how long a credential profile a provider rejected (401/403/insufficient_quota)
    #: is skipped before one probe may use it again
    auth_cooldown_s: Annotated[float, Field(gt=0)] = 300.0


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
    #: `provider/model` ids (globs: `openai/gpt-4o*`) the key may pin beyond its lanes' models
    models: list[str] = []
    #: the period `budget_usd` covers: a UTC calendar day or month, or the key's whole life
    per: Literal["day", "month", "total"] = "total"


class ServerSpec(Strict):
    keys: list[ClientKeySpec] = []
    admin_key: SecretStr | None = None
    global_rpm: Annotated[int, Field(gt=0)] | None = None
    max_body_bytes: Annotated[int, Field(gt=0)] = 4 * 1024 * 1024
    max_messages: Annotated[int, Field(gt=0)] = 1000
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    kill_switch: bool = False
    #: Host names (globs: `*.example.com`, `*` for any) answered beside the loopback names
    allowed_hosts: list[str] = []
    #: browser origins (`https://app.example.com`, `*` for any) an open server answers
    allowed_origins: list[str] = []

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or "/" in host or any(c.isspace() for c in host):
                raise ValueError(
                    f"{host!r} is not a host name: list names as clients send them in "
                    "the Host header (api.example.com, *.example.com, 10.0.0.5:8080), "
                    "not URLs"
                )
        return [host.lower() for host in value]

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if origin != "*" and (
                scheme not in ("http", "https") or not sep or not rest or "/" in rest
            ):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port] as a browser "
                    "sends it in the Origin header (https://app.example.com), no path"
                )
        return [origin.lower() for origin in value]

    #: a file of more client keys (digests only), kept by `laneway keys`; relative to the config
    keys_file: str | None = None
    #: client model names (exact, or a glob such as `claude-opus-*`) -> a lane or provider/model
    aliases: dict[str, str] = {}
    #: pass the Messages API's `metadata.user_id` on to Anthropic-format providers
    forward_user_id: bool = False
    #: `/readyz` answers within this, naming the checks that did not answer in time
    readyz_timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class AuditSpec(Strict):
    url: str = "sqlite:///laneway.db"
    store_content: bool = False
    store_raw_user_id: bool = False
    durability: Literal["strict", "batched"] = "strict"
    enabled: bool = True
    #: refusals (401, 429, ...) recorded per second at most; past it they are sampled out,
    #: counted, and summed up in one `refusals_sampled_out` row per `refusal_summary_s`
    refusals_per_s: Annotated[float, Field(gt=0)] = 200.0
    refusal_summary_s: Annotated[float, Field(gt=0)] = 60.0


class StateFailPolicySpec(Strict):
    """Per concern, what a request gets while the state store fails: `open` serves it from
    this process's memory, `closed` answers 503 `state_unavailable`."""

    limits: Literal["open", "closed"] = "open"
    breakers: Literal["open", "closed"] = "open"
    budgets: Literal["open", "closed"] = "closed"


class StateSpec(Strict):
    url: str = "memory://"
    connect_timeout_s: Annotated[float, Field(gt=0, le=30)] = 0.25
    command_timeout_s: Annotated[float, Field(gt=0, le=30)] = 0.25
    #: after a failure the store is not asked again for this long (requests go by
    #: `on_state_error` without waiting), then the next request tries it
    retry_after_s: Annotated[float, Field(ge=0, le=300)] = 1.0
    on_state_error: StateFailPolicySpec = StateFailPolicySpec()


class TelemetrySpec(Strict):
    metrics: bool = True
    otel: bool = False


def _listed(value: object) -> object:
    """`lane: review` as shorthand for `lane: [review]`."""
    return [value] if isinstance(value, str) else value


StrList = list[str]


class PolicyWhenSpec(Strict):
    """When a policy applies: every key given must hold (a list means any of its values)."""

    lane: StrList | None = None
    lane_not: StrList | None = None
    phase: StrList | None = None
    complexity: list[Complexity] | None = None
    #: any of these tags (`TaskContext.tags`; on the server `X-Laneway-Tags`)
    tags: StrList | None = None
    #: the server's client-key names (`server.keys[].name`)
    key: StrList | None = None
    #: job ids; shell-style globs such as `nightly-*`
    job: StrList | None = None
    #: `TaskContext.metadata` entries that must be equal
    metadata: dict[str, str] | None = None

    @field_validator("lane", "lane_not", "phase", "complexity", "tags", "key", "job", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return _listed(value)


class PriceCapSpec(Strict):
    """USD per million tokens; a model priced above either cap is denied."""

    input: Annotated[float, Field(ge=0)] | None = None
    output: Annotated[float, Field(ge=0)] | None = None


PolicyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
HookRef = Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")]


class PolicySpec(Strict):
    """One entry of `policies:`: conditions (`when`) and what it allows, denies or hooks."""

    name: PolicyName
    when: PolicyWhenSpec = PolicyWhenSpec()
    allow_providers: StrList | None = None
    deny_providers: StrList | None = None
    #: `provider/model` globs (`anthropic/claude-opus-*`)
    allow_models: StrList | None = None
    deny_models: StrList | None = None
    max_price_usd_per_mtok: PriceCapSpec | None = None
    #: what a model of unknown price gets under a price cap
    unpriced: Literal["allow", "deny"] = "allow"
    requires: list[Capability] | None = None
    #: `block`: a candidate estimated over the budget is denied, never taken as the cheapest
    on_budget_miss: Literal["advise", "block"] | None = None
    #: `module:callable`, called with (TaskContext, ModelInfo); returns allow/deny/replace
    hook: HookRef | None = None
    hook_timeout_s: Annotated[float, Field(gt=0, le=30)] = 0.25

    @field_validator(
        "allow_providers", "deny_providers", "allow_models", "deny_models", mode="before"
    )
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return _listed(value)

    @model_validator(mode="after")
    def _has_action(self) -> PolicySpec:
        actions = (
            self.allow_providers,
            self.deny_providers,
            self.allow_models,
            self.deny_models,
            self.max_price_usd_per_mtok,
            self.requires,
            self.on_budget_miss,
            self.hook,
        )
        if all(action is None for action in actions):
            raise ValueError(
                "a policy needs an action: allow_providers, deny_providers, allow_models, "
                "deny_models, max_price_usd_per_mtok, requires, on_budget_miss or hook"
            )
        return self


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
    policies: list[PolicySpec] = []


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
    "PolicySpec",
    "PolicyWhenSpec",
    "PriceCapSpec",
    "PriceSpec",
    "ProviderSpec",
    "RetryRuleSpec",
    "RoutingSpec",
    "RuleSpec",
    "ServerSpec",
    "StateFailPolicySpec",
    "StateSpec",
    "StreamSpec",
    "TelemetrySpec",
    "TimeoutsSpec",
    "TlsSpec",
]
