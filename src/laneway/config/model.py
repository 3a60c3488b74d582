"""The resolved configuration: frozen runtime objects every layer reads.

Phase two of loading (`resolve.py`) builds these from the parsed `ConfigSpec`:
model references parsed, defaults applied, prices and capabilities looked up,
and every cross-reference checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laneway.config.schema import ConditionValue, ConfigSpec, LaneSpec, ProviderSpec
from laneway.errors import ConfigError, ErrorCode, RetryRule
from laneway.http.settings import UpstreamSettings
from laneway.types import Capability, ModelInfo, ModelRef

DEFAULT_ATTEMPT_TIMEOUT_S = 60.0
DEFAULT_TOTAL_TIMEOUT_S = 180.0


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    primary: ModelRef
    fallback: tuple[ModelRef, ...]
    requires: frozenset[Capability]
    spec: LaneSpec
    retry_table: Mapping[ErrorCode, RetryRule]
    attempt_timeout_s: float = DEFAULT_ATTEMPT_TIMEOUT_S
    total_timeout_s: float = DEFAULT_TOTAL_TIMEOUT_S
    output_schema: Mapping[str, Any] | None = None

    @property
    def candidates(self) -> tuple[ModelRef, ...]:
        return (self.primary, *self.fallback)


@dataclass(frozen=True, slots=True)
class Rule:
    """A static routing rule: all `when` conditions must hold; first match wins."""

    index: int
    when: Mapping[str, ConditionValue]
    model: ModelRef
    fallback: tuple[ModelRef, ...] | None = None


@dataclass(frozen=True, slots=True)
class Config:
    spec: ConfigSpec
    source: str
    providers: Mapping[str, ProviderSpec]
    lanes: Mapping[str, Lane]
    rules: tuple[Rule, ...]
    catalog: Mapping[ModelRef, ModelInfo]
    retry_table: Mapping[ErrorCode, RetryRule]
    #: environment overrides applied, e.g. {"lanes.coding.primary": "LANEWAY_LANE_CODING"}
    overrides: Mapping[str, str] = field(default_factory=dict)
    #: variables interpolated into each key path, e.g. {"providers.zai.api_key": ("ZAI_API_KEY",)}
    env_refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: provider id -> its proxy and CA settings (`proxy:`, `tls:`; its own, else global)
    upstream: Mapping[str, UpstreamSettings] = field(default_factory=dict)

    def lane(self, name: str) -> Lane:
        try:
            return self.lanes[name]
        except KeyError:
            known = ", ".join(sorted(self.lanes)) or "none"
            raise ConfigError(
                f"unknown lane {name!r} (known lanes: {known})",
                file=self.source,
                path=f"lanes.{name}",
                hint="add the lane under `lanes:` or pick one of the known lanes",
            ) from None

    def model_info(self, ref: ModelRef) -> ModelInfo:
        info = self.catalog.get(ref)
        if info is None:
            return ModelInfo(ref=ref, capabilities=frozenset())
        return info
