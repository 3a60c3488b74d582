"""`laneway simulate`: the user's own config through the real engine, providers faked.

Every provider but the in-process `local` one becomes a scripted `fake`
provider that keeps the original's prices, context windows and capabilities,
so routing, budgets and costs are those of the real config. Faults are
scripted per provider call: `down` (503 unavailable), `auth_fail` (401),
`rate_limit` and `malformed` on a share of calls, spread evenly over the
calls (a 50% rate fails every second call, so results are reproducible),
and `slow` (each call takes that long). State is in memory, the audit log is
off unless asked for, and the HTTP transport refuses every request: a
simulation never touches the network or the user's stores.

Time is virtual and never waited for. Each of the `concurrency` workers runs
its requests one after another on its own timeline (`SimulatedClock`): a
call, a backoff or a Retry-After advances only the timeline of the request
that waits, so p50/p95 latencies are what a client would see, and shared
state (breakers, budgets) is read at the time of the request that reads it.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from laneway.clock import Timer, next_pass
from laneway.errors import DEFAULT_RETRY_TABLE, ConfigError, LanewayError
from laneway.events import BreakerChanged, Event, RequestFinished
from laneway.types import CompletionRequest, ModelRef, TaskContext, Usage

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.engine.gateway import Gateway
    from laneway.providers.fake import FakeAdapter

FaultKind = Literal["down", "auth_fail", "rate_limit", "malformed", "slow"]

#: each fault's scripted error: (code, HTTP status the provider would have sent)
_ERRORS: Mapping[str, tuple[str, int]] = {
    "auth_fail": ("auth", 401),
    "down": ("unavailable", 503),
    "rate_limit": ("rate_limit", 429),
    "malformed": ("invalid_response", 200),
}
_KEPT_KINDS = frozenset({"local"})
_RATE = re.compile(r"^(?P<provider>[^:]+):(?P<value>\d+(?:\.\d+)?)%$")
_DELAY = re.compile(r"^(?P<provider>[^:]+):(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s)$")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault on one provider: on `share` of its calls, or each call `delay_s` long."""

    kind: FaultKind
    provider: str
    share: float = 1.0
    delay_s: float = 0.0

    def __str__(self) -> str:
        if self.kind == "slow":
            return f"slow {self.provider}:{self.delay_s:g}s"
        if self.kind in ("rate_limit", "malformed"):
            return f"{self.kind.replace('_', '-')} {self.provider}:{self.share:.0%}"
        return f"{self.kind.replace('_', '-')} {self.provider}"


def parse_fault(kind: FaultKind, text: str) -> Fault:
    """`anthropic`, `zai:50%` or `gemini:8s`, as each fault kind expects."""
    option = "--" + kind.replace("_", "-")
    if kind in ("down", "auth_fail"):
        if ":" in text or not text:
            raise ConfigError(f"{option} takes a provider id, not {text!r}", hint=f"{option} zai")
        return Fault(kind, text)
    if kind == "slow":
        match = _DELAY.match(text)
        if match is None:
            raise ConfigError(
                f"{option} takes provider:duration, not {text!r}", hint=f"{option} gemini:8s"
            )
        scale = 0.001 if match["unit"] == "ms" else 1.0
        return Fault(kind, match["provider"], delay_s=float(match["value"]) * scale)
    match = _RATE.match(text)
    if match is None or not 0 < float(match["value"]) <= 100:
        raise ConfigError(
            f"{option} takes provider:share with a share from 1% to 100%, not {text!r}",
            hint=f"{option} zai:50%",
        )
    return Fault(kind, match["provider"], share=float(match["value"]) / 100)


@dataclass(frozen=True, slots=True)
class Scenario:
    requests_per_lane: int = 100
    concurrency: int = 4
    lanes: tuple[str, ...] = ()  # empty: every lane
    latency_s: float = 1.0  # each provider call, unless a `slow` fault says otherwise
    tokens_in: int = 1_000
    tokens_out: int = 300
    faults: tuple[Fault, ...] = ()


@dataclass(slots=True)
class LaneReport:
    """What the simulation saw in one lane; `served` maps model (or `failed`) to requests."""

    lane: str
    requests: int = 0
    served: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    degraded: int = 0
    failed: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    cost_usd: float = 0.0
    wasted_calls: int = 0
    wasted: dict[str, int] = field(default_factory=dict)  # "model: code" -> calls
    fired: dict[str, int] = field(default_factory=dict)  # "circuit_open model" -> times

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.requests if self.requests else 0.0

    @property
    def degraded_rate(self) -> float:
        return self.degraded / self.requests if self.requests else 0.0

    @property
    def failed_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0


@dataclass(slots=True)
class SimulationReport:
    scenario: Scenario
    providers: dict[str, str]  # provider id -> "fake (was <kind>)" or "local"
    lanes: list[LaneReport]
    breaker_openings: dict[str, int]


class SimulatedClock:
    """Virtual time per task: each worker's requests advance only its own timeline."""

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now: ContextVar[float] = ContextVar("simulated_now", default=start)
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        return self._now.get()

    def wall(self) -> float:
        return self._now.get() + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        self._now.set(self._now.get() + max(0.0, seconds))
        await next_pass()  # yield, so the other workers run as they would

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Virtual time never waits: a timer (the audit writer's linger) fires next pass."""
        return asyncio.get_running_loop().call_soon(callback)


# -- the config under simulation ---------------------------------------------------


def simulated_config(
    loaded: Config, raw: Mapping[str, Any], audit_url: str | None
) -> dict[str, Any]:
    """`raw` (the user's YAML data) with each hosted provider replaced by a fake of its models."""
    data = dict(raw)
    providers: dict[str, Any] = {}
    for provider_id, spec in loaded.providers.items():
        if spec.kind in _KEPT_KINDS:
            providers[provider_id] = raw.get("providers", {}).get(provider_id, {"kind": spec.kind})
            continue
        models = {
            ref.model: _model_entry(loaded, ref)
            for ref in loaded.catalog
            if ref.provider == provider_id
        }
        providers[provider_id] = {"kind": "fake", "models": models}
    data["providers"] = providers
    data["state"] = {"url": "memory://"}
    data["audit"] = {"url": audit_url} if audit_url else {"enabled": False}
    data.pop("telemetry", None)  # no exporter: nothing leaves the machine
    return data


def _model_entry(loaded: Config, ref: ModelRef) -> dict[str, Any]:
    info = loaded.model_info(ref)
    entry: dict[str, Any] = {"capabilities": sorted(c.value for c in info.capabilities)}
    if info.price is not None:
        entry["price"] = {"input": info.price.input, "output": info.price.output}
    if info.context_window is not None:
        entry["context"] = info.context_window
    if info.max_output_tokens is not None:
        entry["max_output"] = info.max_output_tokens
    return entry


def check_faults(loaded: Config, faults: tuple[Fault, ...]) -> None:
    for fault in faults:
        if fault.provider not in loaded.providers:
            known = ", ".join(loaded.providers)
            raise ConfigError(
                f"{fault} names no provider of this config",
                hint=f"use one of: {known}",
            )
        if loaded.providers[fault.provider].kind in _KEPT_KINDS:
            raise ConfigError(
                f"{fault}: the in-process {fault.provider!r} provider is not simulated",
                hint="name a hosted provider",
            )


# -- scripted provider calls ---------------------------------------------------------


class FaultSchedule:
    """The answers of one provider's calls, in call order, under its faults."""

    def __init__(self, faults: list[Fault], scenario: Scenario) -> None:
        self._faults = faults
        self._scenario = scenario
        self._calls = 0

    def next_answer(self) -> dict[str, Any]:
        """`FakeAdapter.enqueue` arguments for the next call."""
        call = self._calls
        self._calls += 1
        delay = self._scenario.latency_s
        for fault in self._faults:
            if fault.kind == "slow":
                delay = fault.delay_s
        for fault in self._faults:
            if fault.kind != "slow" and _hits(call, fault.share):
                code, status = _ERRORS[fault.kind]
                return {"error_code": code, "status": status, "delay_s": delay}
        usage = Usage(self._scenario.tokens_in, self._scenario.tokens_out)
        return {"text": "simulated answer", "usage": usage, "delay_s": delay}


def _hits(call: int, share: float) -> bool:
    """Spread `share` of calls evenly: call k is hit when floor((k+1)s) passes floor(ks)."""
    return math.floor((call + 1) * share + 1e-9) > math.floor(call * share + 1e-9)


# -- the run ---------------------------------------------------------------------------


async def simulate(
    raw: Mapping[str, Any],
    loaded: Config,
    env: Mapping[str, str],
    scenario: Scenario,
    *,
    audit_url: str | None = None,
) -> SimulationReport:
    """Run `scenario` on the user's config with faked providers; nothing is waited for."""
    from laneway.engine.gateway import Gateway

    check_faults(loaded, scenario.faults)
    lanes = scenario.lanes or tuple(loaded.lanes)
    unknown = [lane for lane in lanes if lane not in loaded.lanes]
    if unknown:
        raise ConfigError(
            f"--lane {unknown[0]!r} is not a lane of this config",
            hint=f"use one of: {', '.join(loaded.lanes)}",
        )
    clock = SimulatedClock()
    data = simulated_config(loaded, raw, audit_url)
    gateway = Gateway.from_config(data, env=env, clock=clock, transport=_no_network())
    run = _Run(gateway, loaded, scenario, lanes)
    try:
        await run.all()
    finally:
        await gateway.aclose()
    providers = {
        pid: spec.kind if spec.kind in _KEPT_KINDS else f"fake (was {spec.kind})"
        for pid, spec in loaded.providers.items()
    }
    return SimulationReport(scenario, providers, run.reports(), dict(run.openings))


def _no_network() -> Any:
    """A transport whose every call fails to connect: a simulation never reaches a provider."""
    from laneway.http import HttpxTransport

    return HttpxTransport()


class _Run:
    def __init__(
        self, gateway: Gateway, loaded: Config, scenario: Scenario, lanes: tuple[str, ...]
    ) -> None:
        self._gateway = gateway
        self._loaded = loaded
        self._scenario = scenario
        self._lanes = lanes
        self._finished: list[RequestFinished] = []
        self.openings: Counter[str] = Counter()
        self._fakes: dict[str, tuple[FakeAdapter, FaultSchedule]] = {}
        for provider_id, spec in loaded.providers.items():
            if spec.kind in _KEPT_KINDS:
                continue
            faults = [f for f in scenario.faults if f.provider == provider_id]
            adapter: Any = gateway.adapter(provider_id)
            self._fakes[provider_id] = (adapter, FaultSchedule(faults, scenario))
        self._per_request = _calls_bound(loaded)
        gateway.subscribe(self._record)

    def _record(self, event: Event) -> None:
        if isinstance(event, RequestFinished):
            self._finished.append(event)
        elif isinstance(event, BreakerChanged) and event.new == "open":
            self.openings[str(event.model)] += 1

    async def all(self) -> None:
        pending = [
            TaskContext(lane=lane, request_id=f"sim-{lane}-{i}")
            for i in range(self._scenario.requests_per_lane)
            for lane in self._lanes
        ]
        pending.reverse()  # popped from the end: first request first
        workers = max(1, min(self._scenario.concurrency, len(pending)))
        await asyncio.gather(*(self._worker(pending) for _ in range(workers)))

    async def _worker(self, pending: list[TaskContext]) -> None:
        request = CompletionRequest.from_prompt("a simulated request")
        while pending:
            ctx = pending.pop()
            self._top_up()
            lane = self._loaded.lanes[ctx.lane]
            try:
                if lane.spec.degraded is not None:
                    await self._gateway.run(request, ctx)
                else:
                    await self._gateway.complete(request, ctx)
            except LanewayError:
                pass  # filed as a RequestFinished event like every other outcome

    def _top_up(self) -> None:
        """Enough scripted answers queued for every worker's next request."""
        needed = self._per_request * max(1, self._scenario.concurrency)
        for adapter, schedule in self._fakes.values():
            for _ in range(needed - adapter.pending()):
                adapter.enqueue(**schedule.next_answer())

    def reports(self) -> list[LaneReport]:
        by_lane = {lane: LaneReport(lane) for lane in self._lanes}
        durations: dict[str, list[float]] = {lane: [] for lane in self._lanes}
        for event in self._finished:
            report = by_lane.get(event.context.lane)
            if report is None or not (event.request_id or "").startswith("sim-"):
                continue
            _add(report, event)
            durations[report.lane].append(event.duration_ms / 1000)
        for lane, report in by_lane.items():
            report.p50_s = _percentile(durations[lane], 50)
            report.p95_s = _percentile(durations[lane], 95)
        return list(by_lane.values())


def _add(report: LaneReport, event: RequestFinished) -> None:
    report.requests += 1
    served = event.model is not None and event.status == "success"
    key = str(event.model) if served else event.status
    report.served[key] = report.served.get(key, 0) + 1
    if event.status == "degraded":
        report.degraded += 1
    elif not served:
        report.failed += 1
    decision = event.decision
    if served and decision is not None and event.model != decision.model:
        report.fallbacks += 1
    report.cost_usd += event.usage.cost_usd or 0.0
    for attempt in event.attempts:
        if attempt.skipped:
            label = f"{attempt.code} {attempt.model}"
            report.fired[label] = report.fired.get(label, 0) + 1
        elif attempt.code != "success":
            report.wasted_calls += 1
            label = f"{attempt.model}: {attempt.code}"
            report.wasted[label] = report.wasted.get(label, 0) + 1
    if event.status in ("budget_exceeded", "rejected"):
        report.fired[event.status] = report.fired.get(event.status, 0) + 1


def _percentile(values: list[float], q: float) -> float | None:
    from laneway.audit.query import percentile

    return percentile(values, q)


def _calls_bound(loaded: Config) -> int:
    """The most provider calls one request can make: every known model, every retry."""
    retries = max(rule.retries for rule in DEFAULT_RETRY_TABLE.values())
    for lane in loaded.lanes.values():
        retries = max([retries, *(rule.retries for rule in lane.retry_table.values())])
    return (len(loaded.catalog) + 2) * (retries + 1)
