"""From an ordered list of candidates to a model and its chain: capabilities, then budget.

Capability filtering: a model lacking anything the lane or the context requires
is dropped, never chosen, never in the chain.

Budget-aware selection: each candidate's cost is estimated from its catalog
price, the caller's input-token estimate (else `DEFAULT_INPUT_TOKENS`) and an
assumed answer of `ASSUMED_OUTPUT_TOKENS` tokens — a typical chat answer; a
real answer may be longer, so the estimate is a guide, not a cap (the budget
module enforces caps). When the first candidate's estimate exceeds the limit
(the lane's `usd_per_task` and the context's `budget_remaining_usd`, whichever
is lower), the first later candidate that fits is chosen; if none fits, the
cheapest is chosen and the reasoning says so. A model whose price is unknown
cannot be judged and is never switched away from on cost grounds.

The chain keeps the original order, minus the chosen model, with candidates
estimated over the limit moved to its end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from laneway.errors import RoutingExhaustedError
from laneway.types import Attempt, Capability, ModelInfo, ModelRef

DEFAULT_INPUT_TOKENS = 1_000
ASSUMED_OUTPUT_TOKENS = 1_000


@dataclass(frozen=True, slots=True)
class Selection:
    model: ModelRef
    chain: tuple[ModelRef, ...]
    estimated_cost_usd: float | None
    notes: tuple[str, ...] = ()


def lacking(
    ref: ModelRef, required: frozenset[Capability], catalog: Mapping[ModelRef, ModelInfo]
) -> frozenset[Capability]:
    """What `ref` lacks of `required` (everything when the catalog does not know it)."""
    if not required:
        return required
    info = catalog.get(ref)
    return required - info.capabilities if info is not None else required


def filter_capable(
    candidates: Sequence[ModelRef],
    required: frozenset[Capability],
    catalog: Mapping[ModelRef, ModelInfo],
) -> tuple[tuple[ModelRef, ...], tuple[str, ...]]:
    """(candidates meeting `required`, a note per dropped one)."""
    if not required:
        return tuple(candidates), ()
    kept: list[ModelRef] = []
    notes: list[str] = []
    for ref in candidates:
        missing = lacking(ref, required, catalog)
        if missing:
            notes.append(f"skipped {ref} (lacks {names(missing)})")
        else:
            kept.append(ref)
    return tuple(kept), tuple(notes)


def estimate_cost(
    ref: ModelRef, catalog: Mapping[ModelRef, ModelInfo], tokens_in: int, tokens_out: int
) -> float | None:
    info = catalog.get(ref)
    if info is None or info.price is None:
        return None
    return info.price.cost_usd(tokens_in, tokens_out)


def select(
    candidates: Sequence[ModelRef],
    catalog: Mapping[ModelRef, ModelInfo],
    *,
    limit_usd: float | None,
    tokens_in: int,
    tokens_out: int = ASSUMED_OUTPUT_TOKENS,
) -> Selection:
    """The first candidate, or the first that fits `limit_usd`, or the cheapest."""
    first = estimate_cost(candidates[0], catalog, tokens_in, tokens_out)
    if limit_usd is None or first is None or first <= limit_usd:
        return Selection(candidates[0], tuple(candidates[1:]), first)
    estimates = [first, *(estimate_cost(r, catalog, tokens_in, tokens_out) for r in candidates[1:])]
    fits = [i for i, cost in enumerate(estimates) if cost is not None and cost <= limit_usd]
    if fits:
        index = fits[0]
        note = (
            f"{candidates[0]} est. {usd(first)} is over the {usd(limit_usd)} budget; "
            f"took {candidates[index]} (est. {usd(estimates[index])}), the first that fits"
        )
    else:
        priced = [i for i, cost in enumerate(estimates) if cost is not None]
        index = min(priced, key=lambda i: (estimates[i], i))
        note = (
            f"no candidate fits the {usd(limit_usd)} budget; took the cheapest, "
            f"{candidates[index]} (est. {usd(estimates[index])})"
        )
    rest = [i for i in range(len(candidates)) if i != index]
    within = [i for i in rest if _fits(estimates[i], limit_usd)]
    over = [i for i in rest if not _fits(estimates[i], limit_usd)]
    chain = tuple(candidates[i] for i in within + over)
    return Selection(candidates[index], chain, estimates[index], (note,))


def no_capable_model(
    lane: str, candidates: Sequence[ModelRef], notes: Sequence[str]
) -> RoutingExhaustedError:
    """The error when no candidate has what the request requires; nothing was called."""
    attempts = [
        Attempt(model=ref, code="missing_capability", attempt=0, elapsed_ms=0.0, skipped=True)
        for ref in candidates
    ]
    return RoutingExhaustedError(
        f"no model of lane {lane!r} has what this request requires: " + "; ".join(notes),
        attempts=attempts,
    )


def _fits(cost: float | None, limit: float) -> bool:
    return cost is None or cost <= limit


def names(capabilities: frozenset[Capability]) -> str:
    return ", ".join(sorted(str(c) for c in capabilities))


def usd(amount: float | None) -> str:
    return "unknown" if amount is None else f"${amount:.4f}"
