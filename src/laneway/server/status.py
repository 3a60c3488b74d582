"""What the state store says right now: breakers, budgets, rate-limit windows.

One report for `GET /admin/status` (a server's own memory) and for `laneway
status` reading a shared Redis directly, so both show the same thing. Times
are wall-clock seconds; a breaker's next probe is the first admission after
`breaker.open_s`; a quarantined credential's probe is the first call after
`breaker.auth_cooldown_s`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from laneway.state.base import from_nanos

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.server.auth import Principal
    from laneway.server.limits import RateLimits
    from laneway.state.base import StateStore


async def status_report(
    state: StateStore,
    config: Config,
    *,
    now: float,
    principals: tuple[Principal, ...],
    limits: RateLimits | None,
) -> dict[str, Any]:
    """The JSON `laneway status` prints; see the module docstring."""
    return {
        "now": now,
        "state_url": state.url,
        "breakers": await _breakers(state, config, now),
        "quarantined_credentials": await _quarantines(state, config),
        "budgets": await _budgets(state, config),
        "keys": await _keys(state, principals, now),
        "rate_limits": [] if limits is None else await limits.windows(principals),
    }


async def _breakers(state: StateStore, config: Config, now: float) -> list[dict[str, Any]]:
    open_s = config.spec.breaker.open_s
    rows: list[dict[str, Any]] = []
    for model, record in sorted((await state.breakers.records()).items()):
        if record.state == "closed" and not record.failures:
            continue
        row: dict[str, Any] = {"model": model, "state": record.state}
        if record.state == "open":
            row["opened_at"] = record.opened_at
            row["next_probe_at"] = record.opened_at + open_s  # past: the next request probes
        elif record.state == "half_open":
            row["probe_since"] = record.probe_at
        else:
            row["recent_failures"] = len(record.failures)
        rows.append(row)
    return rows


async def _quarantines(state: StateStore, config: Config) -> list[dict[str, Any]]:
    """Every credential profile a provider rejected, and when its one probe may go."""
    cooldown_s = config.spec.breaker.auth_cooldown_s
    rows: list[dict[str, Any]] = []
    for credential, record in sorted((await state.quarantines.records()).items()):
        row: dict[str, Any] = {"credential": credential, "since": record.since}
        row["next_probe_at"] = record.since + cooldown_s
        if record.probe_at is not None:
            row["probe_since"] = record.probe_at
        rows.append(row)
    return rows


async def _budgets(state: StateStore, config: Config) -> list[dict[str, Any]]:
    limits = _scope_limits(config)
    rows: list[dict[str, Any]] = []
    for scope, usage in sorted((await state.budgets.snapshot()).items()):
        spent, reserved = from_nanos(usage.spent_nanos), from_nanos(usage.reserved_nanos)
        limit = limits.get(scope) or limits.get(scope.partition(":")[0])
        rows.append(
            {
                "scope": scope,
                "spent_usd": spent,
                "reserved_usd": reserved,
                "limit_usd": limit,
                "left_usd": None if limit is None else max(0.0, limit - spent - reserved),
            }
        )
    return rows


def _scope_limits(config: Config) -> dict[str, float]:
    """USD limits by scope: `key:<name>` from server.keys, `job` when every lane agrees."""
    limits: dict[str, float] = {}
    for spec in config.spec.server.keys:
        if spec.name and spec.budget_usd is not None:
            limits[f"key:{spec.name}"] = spec.budget_usd
    per_job = {
        lane.spec.budget.usd_per_job
        for lane in config.lanes.values()
        if lane.spec.budget is not None and lane.spec.budget.usd_per_job is not None
    }
    if len(per_job) == 1:
        limits["job"] = per_job.pop()
    return limits


async def _keys(
    state: StateStore, principals: tuple[Principal, ...], now: float
) -> list[dict[str, Any]]:
    """Each budgeted key's spend in its current period, from the state store
    (`server/key_limits.py`), so a server and `laneway status` on Redis agree."""
    from laneway.server.key_limits import period_of

    rows = []
    for principal in principals:
        if principal.budget_usd is None:
            continue
        period, _ = period_of(principal.per, now)
        used = from_nanos(await state.key_limits.spent(principal.name, period))
        rows.append(
            {
                "key": principal.name,
                "budget_usd": principal.budget_usd,
                "period": period,
                "spent_usd": used,
                "left_usd": max(0.0, principal.budget_usd - used),
            }
        )
    return rows
