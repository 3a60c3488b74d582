"""Reserve before the call, commit after, refund on failure: budgets that hold under concurrency.

A request reserves its estimate in every scope it spends from (its task, its
job, the client key) in one atomic store operation that refuses if any scope
would pass its limit — so 200 concurrent requests of one job can never
together pass the job's budget, on one replica or many. After the call the
engine commits the actual usage (which may differ from the estimate) or
refunds the reservation; either happens at most once.

A `request` scope (`tokens_per_request`) is checked here, not stored: it
concerns one call only. The ledger emits nothing; the engine turns what it
returns into `events.BudgetChanged`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from laneway.config.schema import BudgetSpec
from laneway.errors import BudgetExceededError
from laneway.state.base import BudgetStore, Refusal, ScopeLimit, ScopeUsage, from_nanos, to_nanos

ScopeKind = Literal["request", "task", "job", "key"]


@dataclass(frozen=True, slots=True)
class BudgetScope:
    """Where spending is counted, e.g. `job:build-42`, and its limits (None = unlimited)."""

    kind: ScopeKind
    id: str
    usd_limit: float | None = None
    token_limit: int | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"

    def limit(self) -> ScopeLimit:
        usd = None if self.usd_limit is None else to_nanos(self.usd_limit)
        return ScopeLimit(self.name, usd, self.token_limit)


@dataclass(frozen=True, slots=True)
class Reservation:
    """One held estimate; pass it back to `commit` or `refund`."""

    id: str
    scopes: tuple[str, ...]
    amount_usd: float
    tokens: int

    @property
    def nanos(self) -> int:
        return to_nanos(self.amount_usd)


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left of a scope (None where it has no limit) and what it has used."""

    usd: float | None
    tokens: int | None
    spent_usd: float
    reserved_usd: float
    spent_tokens: int
    reserved_tokens: int


def lane_scopes(
    spec: BudgetSpec | None, *, task_id: str, job_id: str | None
) -> tuple[BudgetScope, ...]:
    """The scopes a lane's `budget:` sets for one request; a job scope only with a job id."""
    if spec is None:
        return ()
    scopes: list[BudgetScope] = []
    if spec.tokens_per_request is not None:
        scopes.append(BudgetScope("request", task_id, token_limit=spec.tokens_per_request))
    if spec.usd_per_task is not None:
        scopes.append(BudgetScope("task", task_id, usd_limit=spec.usd_per_task))
    has_job_limit = spec.usd_per_job is not None or spec.tokens_per_job is not None
    if job_id is not None and has_job_limit:
        scopes.append(BudgetScope("job", job_id, spec.usd_per_job, spec.tokens_per_job))
    return tuple(scopes)


def key_scope(name: str, budget_usd: float | None) -> BudgetScope:
    """A client key's USD budget (`server.keys[].budget_usd`)."""
    return BudgetScope("key", name, usd_limit=budget_usd)


def sequential_ids() -> Callable[[], str]:
    """Ids unique across replicas (a random prefix per ledger) yet cheap: one uuid per ledger."""
    prefix = uuid.uuid4().hex[:16]
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


class BudgetLedger:
    def __init__(self, store: BudgetStore, *, new_id: Callable[[], str] | None = None) -> None:
        self._store = store
        self._new_id = new_id if new_id is not None else sequential_ids()

    async def reserve(
        self, scopes: Sequence[BudgetScope], amount_usd: float, tokens: int
    ) -> Reservation:
        """Hold `amount_usd` and `tokens` in every scope, or raise `BudgetExceededError`."""
        job_id = next((s.id for s in scopes if s.kind == "job"), None)
        for scope in scopes:
            if scope.kind == "request":
                _check_request(scope, amount_usd, tokens, job_id)
        stored = [s for s in scopes if s.kind != "request"]
        reservation = Reservation(self._new_id(), tuple(s.name for s in stored), amount_usd, tokens)
        if not stored:
            return reservation
        limits = [s.limit() for s in stored]
        refusal = await self._store.reserve(reservation.id, limits, reservation.nanos, tokens)
        if refusal is not None:
            scope = next(s for s in stored if s.name == refusal.scope)
            raise _exceeded(scope, refusal, amount_usd, tokens, job_id)
        return reservation

    async def commit(self, reservation: Reservation, actual_usd: float, actual_tokens: int) -> bool:
        """Replace the estimate by actual usage; False if this reservation was settled before."""
        if not reservation.scopes:
            return True
        return await self._store.commit(
            reservation.id,
            reservation.scopes,
            (reservation.nanos, reservation.tokens),
            (to_nanos(actual_usd), actual_tokens),
        )

    async def refund(self, reservation: Reservation) -> bool:
        """Release the estimate (the call failed); False if it was settled before."""
        if not reservation.scopes:
            return True
        return await self._store.refund(
            reservation.id, reservation.scopes, (reservation.nanos, reservation.tokens)
        )

    async def remaining(self, scope: BudgetScope) -> Remaining:
        usage = await self._store.usage(scope.name)
        return _remaining(scope, usage)

    async def close(self, scope: BudgetScope) -> None:
        """Forget a finished scope (a task's, at the end of its request)."""
        await self._store.forget(scope.name)

    async def report(self) -> dict[str, dict[str, float]]:
        """Usage of every scope the store holds, for `Gateway.budget_report()`."""
        return {
            scope: {
                "spent_usd": from_nanos(usage.spent_nanos),
                "reserved_usd": from_nanos(usage.reserved_nanos),
                "spent_tokens": float(usage.spent_tokens),
                "reserved_tokens": float(usage.reserved_tokens),
            }
            for scope, usage in sorted((await self._store.snapshot()).items())
        }


def _remaining(scope: BudgetScope, usage: ScopeUsage) -> Remaining:
    used_nanos = usage.spent_nanos + usage.reserved_nanos
    used_tokens = usage.spent_tokens + usage.reserved_tokens
    usd = None if scope.usd_limit is None else max(0.0, scope.usd_limit - from_nanos(used_nanos))
    tokens = None if scope.token_limit is None else max(0, scope.token_limit - used_tokens)
    return Remaining(
        usd,
        tokens,
        from_nanos(usage.spent_nanos),
        from_nanos(usage.reserved_nanos),
        usage.spent_tokens,
        usage.reserved_tokens,
    )


def _check_request(scope: BudgetScope, amount_usd: float, tokens: int, job_id: str | None) -> None:
    if scope.token_limit is not None and tokens > scope.token_limit:
        refusal = Refusal(scope.name, "tokens", scope.token_limit, ScopeUsage())
        raise _exceeded(scope, refusal, amount_usd, tokens, job_id)
    if scope.usd_limit is not None and to_nanos(amount_usd) > to_nanos(scope.usd_limit):
        refusal = Refusal(scope.name, "usd", to_nanos(scope.usd_limit), ScopeUsage())
        raise _exceeded(scope, refusal, amount_usd, tokens, job_id)


_WHO = {"request": "this request", "task": "this task", "job": "job", "key": "client key"}
_SETTING = {
    "request": "budget.tokens_per_request",
    "task": "budget.usd_per_task",
    "job": "budget.usd_per_job / budget.tokens_per_job",
    "key": "server.keys[].budget_usd",
}


def _exceeded(
    scope: BudgetScope, refusal: Refusal, amount_usd: float, tokens: int, job_id: str | None
) -> BudgetExceededError:
    usage = refusal.usage
    if refusal.unit == "usd":
        limit, spent = from_nanos(refusal.limit), from_nanos(usage.spent_nanos)
        reserved, estimate = from_nanos(usage.reserved_nanos), amount_usd
        show = "${:.4f}".format
    else:
        limit, spent = float(refusal.limit), float(usage.spent_tokens)
        reserved, estimate = float(usage.reserved_tokens), float(tokens)
        show = "{:.0f} tokens".format
    who = _WHO[scope.kind] + ("" if scope.kind in ("request", "task") else f" {scope.id!r}")
    job = f" (job {job_id!r})" if job_id is not None and scope.kind != "job" else ""
    message = (
        f"{who}{job} would pass its {refusal.unit.upper()} budget: limit {show(limit)}, "
        f"spent {show(spent)}, in flight {show(reserved)}, this request's estimate "
        f"{show(estimate)}; raise {_SETTING[scope.kind]} in laneway.yaml or lower max_tokens"
    )
    return BudgetExceededError(
        message,
        scope=scope.kind,
        limit=limit,
        spent=spent,
        estimate=estimate,
        unit=refusal.unit,
        job_id=job_id,
    )
