"""Phase two of loading: cross-references checked, defaults applied, runtime objects built.

Input is a `ConfigSpec` that pydantic already accepted; output is the frozen
`Config`. Every check that needs more than one section lives here: model refs
naming a declared provider, rules naming known lanes, capabilities a lane
requires, guard lanes, environment overrides. Each error names the file, the
YAML path (with its line when known) and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from laneway.config.catalog import build_model_info
from laneway.config.model import (
    DEFAULT_ATTEMPT_TIMEOUT_S,
    DEFAULT_TOTAL_TIMEOUT_S,
    Config,
    Lane,
    Rule,
)
from laneway.config.network import resolve_upstreams
from laneway.config.output_schema import schema_problem
from laneway.config.overrides import LaneOverride, lane_overrides
from laneway.config.policy_refs import check_policies
from laneway.config.prices import lookup_price
from laneway.config.schema import (
    ConfigSpec,
    LaneSpec,
    OpenAICompatibleProvider,
    ProviderSpec,
    RetryRuleSpec,
    RuleSpec,
)
from laneway.config.store_urls import parse_store_url, state_scheme
from laneway.config.yaml_reader import PathKey, format_path
from laneway.errors import DEFAULT_RETRY_TABLE, ConfigError, ErrorCode, RetryRule
from laneway.types import Capability, Complexity, ModelInfo, ModelRef

log = logging.getLogger("laneway.config")

_COMPLEXITIES = frozenset(c.value for c in Complexity)


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """Where the spec came from, to name it in errors and to find relative files."""

    file: str
    base_dir: Path
    lines: Mapping[PathKey, int] = dataclasses.field(default_factory=dict)
    env_refs: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def resolve(spec: ConfigSpec, source: Source, env: Mapping[str, str]) -> Config:
    """The runtime `Config` for `spec`; raises ConfigError on the first broken reference."""
    return _Resolver(spec, source, env).build()


def merge_retry(
    base: Mapping[ErrorCode, RetryRule], overrides: Mapping[ErrorCode, RetryRuleSpec]
) -> Mapping[ErrorCode, RetryRule]:
    """`base` with each override's set fields replacing the rule's, code by code."""
    table = dict(base)
    for code, override in overrides.items():
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        table[code] = dataclasses.replace(table.get(code, RetryRule()), **changes)
    return MappingProxyType(table)


class _Resolver:
    def __init__(self, spec: ConfigSpec, source: Source, env: Mapping[str, str]) -> None:
        self.spec = spec
        self.source = source
        self.env = env
        self.applied: dict[str, str] = {}

    def build(self) -> Config:
        spec = self.spec
        retry = merge_retry(DEFAULT_RETRY_TABLE, spec.retry)
        overrides = lane_overrides(spec.lanes, self.env, file=self.source.file)
        lanes = {
            name: self._lane(name, lane, overrides.get(name, LaneOverride()), retry)
            for name, lane in spec.lanes.items()
        }
        rules = tuple(
            self._rule(index, rule, lanes) for index, rule in enumerate(spec.routing.rules)
        )
        self._check_routing()
        self._check_guards(lanes)
        self._check_server_lanes(lanes)
        self._check_providers()
        self._check_store_urls()
        catalog = self._catalog(self._referenced(lanes, rules))
        for lane in lanes.values():
            self._check_capabilities(lane, catalog)
        for rule in rules:
            self._check_rule_capabilities(rule, lanes, catalog)
        policy_refs = check_policies(spec, lanes, catalog, error=self.error, where=self._where)
        for warning in policy_refs.warnings:
            log.warning("%s", warning)
        return Config(
            spec=spec,
            source=self.source.file,
            providers=MappingProxyType(dict(spec.providers)),
            lanes=MappingProxyType(lanes),
            rules=rules,
            catalog=MappingProxyType(catalog),
            retry_table=retry,
            overrides=MappingProxyType(self.applied),
            env_refs=MappingProxyType(dict(self.source.env_refs)),
            policy_hooks=MappingProxyType(policy_refs.hooks),
            warnings=tuple(policy_refs.warnings),
            upstream=MappingProxyType(resolve_upstreams(spec, self.source.base_dir, self.error)),
        )

    # -- errors -------------------------------------------------------------

    def error(self, message: str, path: PathKey, hint: str) -> ConfigError:
        line = self._line(path)
        return ConfigError(message + line, file=self.source.file, path=format_path(path), hint=hint)

    def _where(self, path: PathKey) -> str:
        """`file:path (line n)`, for warnings."""
        return f"{self.source.file}:{format_path(path)}{self._line(path)}"

    def _line(self, path: PathKey) -> str:
        probe = path
        while probe:
            if probe in self.source.lines:
                return f" (line {self.source.lines[probe]})"
            probe = probe[:-1]
        return ""

    # -- model references ---------------------------------------------------

    def ref(self, text: str, path: PathKey, env_var: str | None = None) -> ModelRef:
        origin = f" (from {env_var})" if env_var else ""
        try:
            ref = ModelRef.parse(text)
        except ConfigError as exc:
            raise self.error(
                f"model {text!r}{origin} does not name its provider",
                path,
                exc.hint or "write provider/model",
            ) from exc
        if ref.provider not in self.spec.providers:
            raise self.error(
                f"model {text!r}{origin} names provider {ref.provider!r}, "
                "which is not declared under `providers:`",
                path,
                self._provider_hint(ref.provider, env_var),
            )
        return ref

    def _provider_hint(self, provider: str, env_var: str | None) -> str:
        known = ", ".join(sorted(self.spec.providers)) or "none yet"
        fix = f"fix {env_var}, or " if env_var else ""
        return (
            f"{fix}add `{provider}: {{kind: ...}}` under `providers:` "
            f"or use a declared provider ({known})"
        )

    # -- lanes --------------------------------------------------------------

    def _lane(
        self,
        name: str,
        spec: LaneSpec,
        override: LaneOverride,
        retry: Mapping[ErrorCode, RetryRule],
    ) -> Lane:
        base: PathKey = ("lanes", name)
        primary = self.ref(
            override.primary or spec.primary, (*base, "primary"), override.primary_var
        )
        if override.primary_var:
            self.applied[format_path((*base, "primary"))] = override.primary_var
        texts = override.fallback if override.fallback is not None else tuple(spec.fallback)
        if override.fallback_var:
            self.applied[format_path((*base, "fallback"))] = override.fallback_var
        fallback = tuple(
            self.ref(text, (*base, "fallback", i), override.fallback_var)
            for i, text in enumerate(texts)
        )
        for i, text in enumerate(spec.stream.continue_on):  # declared providers only
            self.ref(text, (*base, "stream", "continue_on", i))
        timeouts = spec.timeouts
        return Lane(
            name=name,
            primary=primary,
            fallback=_unique(fallback, exclude=primary),
            requires=frozenset(spec.requires),
            spec=spec,
            retry_table=merge_retry(retry, spec.retry),
            attempt_timeout_s=(timeouts and timeouts.attempt_s)
            or self.spec.timeouts.attempt_s
            or DEFAULT_ATTEMPT_TIMEOUT_S,
            total_timeout_s=(timeouts and timeouts.total_s)
            or self.spec.timeouts.total_s
            or DEFAULT_TOTAL_TIMEOUT_S,
            output_schema=self._output_schema(spec.output_schema, (*base, "output_schema")),
        )

    def _output_schema(
        self, value: Mapping[str, Any] | str | None, path: PathKey
    ) -> Mapping[str, Any] | None:
        if value is None:
            return None
        schema = self._read_schema(value, path) if isinstance(value, str) else dict(value)
        problem = schema_problem(schema)
        if problem is not None:
            raise self.error(
                f"output_schema is not a usable JSON Schema: {problem}",
                path,
                "fix the schema (see https://json-schema.org/understanding-json-schema/)",
            )
        return MappingProxyType(schema)

    def _read_schema(self, text: str, path: PathKey) -> dict[str, Any]:
        file = (self.source.base_dir / text).resolve()
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise self.error(
                f"cannot read output_schema file {str(file)!r} ({exc.strerror})",
                path,
                "give a path relative to the config file, or write the schema inline",
            ) from exc
        except json.JSONDecodeError as exc:
            raise self.error(
                f"output_schema file {str(file)!r} is not JSON (line {exc.lineno}: {exc.msg})",
                path,
                "fix the JSON in that file",
            ) from exc
        if not isinstance(loaded, dict):
            raise self.error(
                f"output_schema file {str(file)!r} holds no JSON object",
                path,
                'a JSON Schema is an object such as {"type": "object"}',
            )
        return loaded

    # -- rules and routing ----------------------------------------------------

    def _rule(self, index: int, spec: RuleSpec, lanes: Mapping[str, Lane]) -> Rule:
        base: PathKey = ("routing", "rules", index)
        when = dict(spec.when)
        if spec.lane is not None:
            when["lane"] = spec.lane
        for lane in _as_list(when.get("lane")):
            if lane not in lanes:
                raise self.error(
                    f"rule names unknown lane {lane!r}",
                    (*base, "when", "lane") if "lane" in spec.when else (*base, "lane"),
                    f"use one of the lanes ({', '.join(sorted(lanes)) or 'none'}) "
                    "or add the lane under `lanes:`",
                )
        for value in _as_list(when.get("complexity")):
            if value not in _COMPLEXITIES:
                raise self.error(
                    f"rule matches unknown complexity {value!r}",
                    (*base, "when", "complexity"),
                    "complexity is one of: low, medium, high",
                )
        model = self.ref(spec.model, (*base, "model"))
        fallback = None
        if spec.fallback is not None:
            fallback = tuple(
                self.ref(text, (*base, "fallback", i)) for i, text in enumerate(spec.fallback)
            )
            fallback = _unique(fallback, exclude=model)
        return Rule(index=index, when=MappingProxyType(when), model=model, fallback=fallback)

    def _check_routing(self) -> None:
        routing = self.spec.routing
        if routing.method == "llm_enhanced" and routing.llm_enhanced is None:
            raise self.error(
                "routing method llm_enhanced needs an `llm_enhanced:` section",
                ("routing", "method"),
                "add `llm_enhanced: {routing_model: anthropic/claude-haiku-4-5}` under routing",
            )
        if routing.llm_enhanced is not None:
            self.ref(
                routing.llm_enhanced.routing_model, ("routing", "llm_enhanced", "routing_model")
            )

    def _check_guards(self, lanes: Mapping[str, Lane]) -> None:
        for name, lane in lanes.items():
            guard = lane.spec.guard
            if guard is None:
                continue
            path: PathKey = ("lanes", name, "guard", "lane")
            if guard.lane not in lanes:
                raise self.error(
                    f"guard lane {guard.lane!r} does not exist",
                    path,
                    f"add a `{guard.lane}:` lane (e.g. served by `local`) or use one of: "
                    + ", ".join(sorted(lanes)),
                )
            if _guard_loops(name, lanes):
                raise self.error(
                    f"guard lanes of {name!r} lead back to it",
                    path,
                    "a guard lane must not itself be guarded by the lane it guards",
                )

    def _check_server_lanes(self, lanes: Mapping[str, Lane]) -> None:
        for index, key in enumerate(self.spec.server.keys):
            for position, lane in enumerate(key.lanes):
                if lane != "*" and lane not in lanes:
                    raise self.error(
                        f"client key names unknown lane {lane!r}",
                        ("server", "keys", index, "lanes", position),
                        f"use '*' or one of: {', '.join(sorted(lanes))}",
                    )
            for position, model in enumerate(key.models):
                self._check_key_model(model, ("server", "keys", index, "models", position))
        for name, target in self.spec.server.aliases.items():
            provider, sep, model = target.partition("/")
            if target in lanes or (sep and model and provider in self.spec.providers):
                continue
            raise self.error(
                f"alias {name!r} names {target!r}, which is neither a lane nor a "
                "provider/model of a configured provider",
                ("server", "aliases", name),
                f"use a lane ({', '.join(sorted(lanes))}) or provider/model",
            )

    def _check_key_model(self, model: str, path: PathKey) -> None:
        """A key's `models:` entry: `provider/model`, globs allowed, its provider configured."""
        provider, _, name = model.partition("/")
        if not name or not provider:
            raise self.error(
                f"client key model {model!r} is not provider/model",
                path,
                "write e.g. openai/gpt-4o-mini, or a glob such as openai/gpt-4o*",
            )
        if "*" not in provider and "?" not in provider and provider not in self.spec.providers:
            known = ", ".join(sorted(self.spec.providers)) or "none"
            raise self.error(
                f"client key model {model!r} names unknown provider {provider!r}",
                path,
                f"use one of the configured providers: {known}",
            )

    # -- providers and store URLs -------------------------------------------------

    def _check_providers(self) -> None:
        """What would otherwise fail only when a Gateway is built, or be silently ambiguous."""
        for provider_id, provider in self.spec.providers.items():
            base: PathKey = ("providers", provider_id)
            if provider.api_key is not None and provider.api_key_command:
                raise self.error(*_both_keys(provider_id, (*base, "api_key_command")))
            for index, profile in enumerate(provider.credentials):
                if profile.api_key is not None and profile.api_key_command:
                    path: PathKey = (*base, "credentials", index, "api_key_command")
                    raise self.error(*_both_keys(f"{provider_id}[{index}]", path))
            if isinstance(provider, OpenAICompatibleProvider) and not (
                provider.base_url or provider.preset
            ):
                raise self.error(
                    f"openai_compatible provider {provider_id!r} has no server address",
                    base,
                    f"set providers.{provider_id}.base_url (e.g. http://127.0.0.1:8000/v1) "
                    "or a preset (github, zai, openrouter, groq, together, ollama, vllm, "
                    "llamacpp)",
                )

    def _check_store_urls(self) -> None:
        """The stores' own URL rules, applied now so the error names the file and line."""
        checks: list[tuple[PathKey, Callable[[], object]]] = [
            (("state", "url"), lambda: state_scheme(self.spec.state.url)),
            (
                ("audit", "url"),
                lambda: parse_store_url(self.spec.audit.url, source_dir=self.source.base_dir),
            ),
        ]
        for path, check in checks:
            try:
                check()
            except ConfigError as exc:
                raise self.error(exc.message, path, exc.hint or "") from None

    # -- catalog and capabilities ---------------------------------------------

    def _referenced(self, lanes: Mapping[str, Lane], rules: Iterable[Rule]) -> list[ModelRef]:
        refs: list[ModelRef] = []
        for lane in lanes.values():
            refs += lane.candidates
            refs += [ModelRef.parse(text) for text in lane.spec.stream.continue_on]
        for rule in rules:
            refs += [rule.model, *(rule.fallback or ())]
        if self.spec.routing.llm_enhanced is not None:
            refs.append(ModelRef.parse(self.spec.routing.llm_enhanced.routing_model))
        for provider_id, provider in self.spec.providers.items():
            refs += [ModelRef(provider_id, name) for name in provider.models]
        return refs

    def _catalog(self, refs: Iterable[ModelRef]) -> dict[ModelRef, ModelInfo]:
        catalog: dict[ModelRef, ModelInfo] = {}
        for ref in refs:
            if ref not in catalog:
                provider: ProviderSpec = self.spec.providers[ref.provider]
                catalog[ref] = build_model_info(ref, provider, lookup_price(provider, ref.model))
        return catalog

    def _check_capabilities(self, lane: Lane, catalog: Mapping[ModelRef, ModelInfo]) -> None:
        if not lane.requires:
            return
        paths: list[PathKey] = [("lanes", lane.name, "primary")]
        paths += [("lanes", lane.name, "fallback", i) for i in range(len(lane.fallback))]
        for ref, path in zip(lane.candidates, paths, strict=True):
            missing = lane.requires - catalog[ref].capabilities
            if missing:
                raise self.error(
                    f"lane {lane.name!r} requires {_names(lane.requires)}, "
                    f"but {ref} lacks {_names(missing)}",
                    path,
                    _capability_hint(ref, missing, f"lanes.{lane.name}.requires"),
                )

    def _check_rule_capabilities(
        self, rule: Rule, lanes: Mapping[str, Lane], catalog: Mapping[ModelRef, ModelInfo]
    ) -> None:
        for lane_name in _as_list(rule.when.get("lane")):
            lane = lanes[lane_name]
            for ref in (rule.model, *(rule.fallback or ())):
                missing = lane.requires - catalog[ref].capabilities
                if missing:
                    raise self.error(
                        f"rule sends lane {lane_name!r} (which requires "
                        f"{_names(lane.requires)}) to {ref}, which lacks {_names(missing)}",
                        ("routing", "rules", rule.index, "model"),
                        _capability_hint(ref, missing, f"lanes.{lane_name}.requires"),
                    )


def _both_keys(who: str, path: PathKey) -> tuple[str, PathKey, str]:
    return (
        f"provider {who!r} sets both api_key and api_key_command (ambiguous)",
        path,
        "keep one: api_key (or api_key_env) for a fixed key, "
        "api_key_command for a token a command prints",
    )


def _capability_hint(ref: ModelRef, missing: frozenset[Capability], requires: str) -> str:
    return (
        f"use a model with {_names(missing)}; if {ref.model} does have it, declare it under "
        f"providers.{ref.provider}.models.{ref.model}.capabilities; or drop it from {requires}"
    )


def _names(capabilities: Iterable[Capability]) -> str:
    return ", ".join(sorted(str(c) for c in capabilities))


def _unique(refs: Iterable[ModelRef], *, exclude: ModelRef) -> tuple[ModelRef, ...]:
    """`refs` in order, each once, without `exclude`: a chain never repeats a model."""
    seen = {exclude}
    out: list[ModelRef] = []
    for ref in refs:
        if ref not in seen:
            seen.add(ref)
            out.append(ref)
    return tuple(out)


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _guard_loops(start: str, lanes: Mapping[str, Lane]) -> bool:
    seen = {start}
    current = lanes[start].spec.guard
    while current is not None and current.lane in lanes:
        if current.lane in seen:
            return True
        seen.add(current.lane)
        current = lanes[current.lane].spec.guard
    return False
