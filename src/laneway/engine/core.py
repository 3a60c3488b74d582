"""What a Gateway is built from, assembled once: config, adapters, state, policies, audit.

`EngineCore` is where the layers meet. It answers the attempt loop's questions
(is this provider's key present, what does this model cost, may this job spend
more) so `RequestRun` stays about order and outcome.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from laneway.budgets import BudgetLedger, BudgetScope
from laneway.clock import Clock, SystemClock
from laneway.config.credentials import Credential, check_credential, credentials_for
from laneway.config.loader import load_config
from laneway.config.model import Config
from laneway.engine.bus import EventBus
from laneway.engine.plan import Candidate, Skip, plan_candidates
from laneway.errors import BudgetExceededError, ConfigError
from laneway.events import Event, RequestStarted
from laneway.http import TransportPool, UpstreamSettings
from laneway.policies import PolicySet, compile_policies
from laneway.providers import build_adapter
from laneway.providers.base import Adapter, AdapterDeps
from laneway.resilience.backoff import BackoffPolicy
from laneway.resilience.breaker import Breakers
from laneway.routing import load_routing_provider
from laneway.state import open_configured_state
from laneway.types import (
    Capability,
    ModelInfo,
    ModelRef,
    PolicyEvaluation,
    RoutingDecision,
    TaskContext,
    Usage,
)

if TYPE_CHECKING:
    from laneway.audit.sink import AuditSink
    from laneway.config.schema import BudgetSpec
    from laneway.http import HttpTransport
    from laneway.routing.base import RoutingProvider
    from laneway.state.base import StateStore


_PLAN_CACHE_SIZE = 4096


@dataclass
class EngineCore:
    config: Config
    env: Mapping[str, str]
    clock: Clock
    adapters: dict[str, Adapter]
    state: StateStore
    breakers: Breakers
    ledger: BudgetLedger
    backoff: BackoffPolicy
    routing: RoutingProvider
    bus: EventBus
    audit: AuditSink | None
    #: the HTTP transports made for this core (one per distinct proxy/CA), or the caller's
    transport: TransportPool | None
    store_content: bool = False
    _plans: dict[
        tuple[str, str, tuple[ModelRef, ...], frozenset[Capability], tuple[PolicyEvaluation, ...]],
        tuple[list[Candidate], list[Skip]],
    ] = field(default_factory=dict)
    #: `policies:`, compiled once (engine/policy_review.py applies them)
    policies: PolicySet = field(default_factory=lambda: PolicySet(()))
    _id_prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    _id_counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    #: per provider: (present profiles, what to set when none is): config and env are
    #: fixed once built, so this is computed once instead of on every request
    _credential_facts: dict[str, tuple[tuple[Credential, ...], str | None]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def build(
        cls,
        source: str | Path | Mapping[str, Any] | Config | None,
        *,
        env: Mapping[str, str] | None,
        transport: HttpTransport | None,
        clock: Clock | None,
        audit: AuditSink | None,
    ) -> EngineCore:
        env = dict(os.environ if env is None else env)
        config = source if isinstance(source, Config) else load_config(source, env=env)
        clock = clock or SystemClock()
        transports = _transports(config, env, transport)
        adapters = {
            provider_id: build_adapter(
                provider_id,
                spec,
                AdapterDeps(
                    transport=transports.get(config.upstream.get(provider_id, _DIRECT_PATH)),
                    clock=clock,
                    env=env,
                    catalog={
                        ref.model: info
                        for ref, info in config.catalog.items()
                        if ref.provider == provider_id
                    },
                ),
            )
            for provider_id, spec in config.providers.items()
        }
        state = open_configured_state(config.spec.state, clock=clock)
        if audit is None and config.spec.audit.enabled:
            from laneway.audit.sink import build_audit_sink

            base = Path(config.source).parent if Path(config.source).is_file() else Path.cwd()
            audit = build_audit_sink(config.spec.audit, clock=clock, source_dir=base)
        bus = EventBus()
        core = cls(
            config=config,
            env=env,
            clock=clock,
            adapters=adapters,
            state=state,
            breakers=Breakers(state.breakers, config.spec.breaker),
            ledger=BudgetLedger(state.budgets),
            backoff=BackoffPolicy.from_spec(config.spec.backoff),
            routing=load_routing_provider(config),
            bus=bus,
            audit=audit,
            transport=transports,
            store_content=config.spec.audit.store_content,
            policies=compile_policies(config.spec.policies),
        )
        if audit is not None:
            bus.subscribe(_AuditRecorder(audit))
        if config.spec.telemetry.otel:
            from laneway.telemetry.otel import build_tracer, is_available

            if not is_available():
                raise ConfigError(
                    "telemetry.otel is on but OpenTelemetry is not installed",
                    file=config.source,
                    path="telemetry.otel",
                    hint="pip install 'laneway[otel]', or set telemetry.otel: false",
                )
            tracer = build_tracer(True)
            if tracer is not None:
                bus.subscribe(tracer)
        return core

    # -- facts the attempt loop asks for ---------------------------------------

    def plan(
        self, decision: RoutingDecision, required: frozenset[Capability]
    ) -> tuple[list[Candidate], list[Skip]]:
        """The decision's candidates and skips; keys and capabilities are fixed, so cache it.

        The key names the decided model by its two strings: a `ModelRef` hashes in Python.
        """
        model = decision.model
        key = (model.provider, model.model, decision.fallback_chain, required, decision.policy)
        planned = self._plans.get(key)
        if planned is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            planned = plan_candidates(
                decision, self.config, required, self.credential_problem, self.model_info
            )
            self._plans[key] = planned
        return planned

    def new_request_id(self) -> str:
        """Unique across processes (a random prefix per gateway) yet cheap (a counter)."""
        return f"{self._id_prefix}{next(self._id_counter):08x}"

    def request_id_of(self, ctx: TaskContext) -> str:
        return ctx.request_id or self.new_request_id()

    def adapter(self, provider_id: str) -> Adapter:
        try:
            return self.adapters[provider_id]
        except KeyError:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise KeyError(f"no provider {provider_id!r} (configured: {known})") from None

    def _credential_facts_of(self, provider_id: str) -> tuple[tuple[Credential, ...], str | None]:
        facts = self._credential_facts.get(provider_id)
        if facts is None:
            profiles = credentials_for(provider_id, self.config.providers[provider_id])
            statuses = [check_credential(c, self.env) for c in profiles]
            present = tuple(s.credential for s in statuses if s.present)
            problem = None if present else "; ".join(s.problem or "" for s in statuses)
            facts = self._credential_facts[provider_id] = (present, problem)
        return facts

    def credential_problem(self, provider_id: str) -> str | None:
        """None when some credential profile is present; else what to set, per profile."""
        return self._credential_facts_of(provider_id)[1]

    def attempt_cap_s(self, provider_id: str) -> float | None:
        """The provider's own `timeouts.attempt_s`, if it sets one."""
        timeouts = self.config.providers[provider_id].timeouts
        return timeouts.attempt_s if timeouts is not None else None

    def present_credentials(self, provider_id: str) -> tuple[Credential, ...]:
        return self._credential_facts_of(provider_id)[0]

    def model_info(self, model: ModelRef) -> ModelInfo:
        info = self.config.catalog.get(model)
        if info is not None:
            return info
        adapter = self.adapters.get(model.provider)
        return adapter.capabilities(model.model) if adapter else ModelInfo(model, frozenset())

    def priced(self, usage: Usage, candidate: Candidate) -> Usage:
        if usage.cost_usd is not None or candidate.info.price is None:
            return usage
        return usage.priced(candidate.info.price)

    # -- budgets -----------------------------------------------------------------

    async def forget_task(self, ctx: TaskContext, budget: BudgetSpec) -> None:
        """Drop the per-task scope when a request on a lane with `budget` ends, so state
        does not grow."""
        if budget.usd_per_task is not None:
            await self.ledger.close(BudgetScope("task", self.request_id_of(ctx)))

    async def with_budget_left(self, ctx: TaskContext, budget: BudgetSpec) -> TaskContext:
        """Tell budget-aware routing what the job has left of the lane's `budget`."""
        if budget.usd_per_job is None or ctx.job_id is None:
            return ctx
        remaining = await self.ledger.remaining(
            BudgetScope("job", ctx.job_id, usd_limit=budget.usd_per_job)
        )
        left = remaining.usd if remaining.usd is not None else budget.usd_per_job
        if ctx.budget_remaining_usd is not None:
            left = min(left, ctx.budget_remaining_usd)
        return ctx.with_budget_remaining(left)

    async def breaker_states(self) -> dict[str, str]:
        return await self.breakers.snapshot()

    async def budget_report(self) -> dict[str, dict[str, float]]:
        return await self.ledger.report()

    async def aclose(self) -> None:
        for adapter in self.adapters.values():
            await adapter.aclose()
        if self.transport is not None:
            await self.transport.aclose()
        if self.audit is not None:
            await self.audit.aclose()
        await self.state.aclose()


_DIRECT_PATH = UpstreamSettings()


def _transports(
    config: Config, env: Mapping[str, str], given: HttpTransport | None
) -> TransportPool:
    """The caller's transport for every provider, else one per distinct proxy/CA setting."""
    if given is not None:
        return TransportPool(lambda _settings: given)
    from laneway.http import default_transport

    return TransportPool(lambda settings: default_transport(settings, env=env))


class _AuditRecorder:
    """The audit sink as a subscriber (`start()` wrote RequestStarted already)."""

    def __init__(self, audit: AuditSink) -> None:
        self._audit = audit
        kinds: frozenset[type] | None = getattr(audit, "events", None)
        #: the event kinds the sink stores, when it says (`EventBus`), but the start
        self.events = None if kinds is None else kinds - {RequestStarted}

    def __call__(self, event: Event) -> None:
        if not isinstance(event, RequestStarted):
            self._audit.record(event)


__all__ = ["BudgetExceededError", "EngineCore"]
