"""From an ordered list of candidates to a model and its chain: capabilities, then budget.

Capability filtering: a model lacking anything the lane or the context requires
is dropped, never chosen, never in the chain.

Budget-aware selection: each candidate's cost is its worst case, with the
bounds a budget reserves (`budgets.bound`): the caller's input bound (else
`DEFAULT_INPUT_TOKENS`) and the output bound the engine sends as max_tokens
(`ModelInfo.output_bound`: the client's max_tokens, else the lane's
`max_output_tokens`, else the model's limit). When the first candidate's worst
case exceeds the limit (the lane's `usd_per_task` and the context's
`budget_remaining_usd`, whichever is lower), the first later candidate that
fits is chosen; if none fits, the cheapest is chosen. Only a cheaper model
chosen over the first is a downgrade: its note starts with `DOWNGRADE`, which
`stats --routing` counts. A model whose price is unknown cannot be judged and
is never switched away from on cost grounds.

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
#: how a downgrade's note starts in a decision's reasoning (`stats --routing` counts it)
DOWNGRADE = "budget downgrade:"


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
    ref: ModelRef,
    catalog: Mapping[ModelRef, ModelInfo],
    tokens_in: int,
    tokens_out: int | None = None,
    *,
    lane_max: int | None = None,
) -> float | None:
    """`ref`'s worst case: `tokens_out` is the client's max_tokens (None: not set)."""
    info = catalog.get(ref)
    if info is None or info.price is None:
        return None
    return info.price.cost_usd(tokens_in, info.output_bound(tokens_out, lane_max))


def select(
    candidates: Sequence[ModelRef],
    catalog: Mapping[ModelRef, ModelInfo],
    *,
    limit_usd: float | None,
    tokens_in: int,
    max_tokens: int | None = None,
    lane_max: int | None = None,
) -> Selection:
    """The first candidate, or the first that fits `limit_usd`, or the cheapest."""

    def cost(ref: ModelRef) -> float | None:
        return estimate_cost(ref, catalog, tokens_in, max_tokens, lane_max=lane_max)

    first = cost(candidates[0])
    if limit_usd is None or first is None or first <= limit_usd:
        return Selection(candidates[0], tuple(candidates[1:]), first)
    estimates = [first, *(cost(r) for r in candidates[1:])]
    fits = [i for i, c in enumerate(estimates) if c is not None and c <= limit_usd]
    if fits:
        index = fits[0]
        verdict = f"is over the {usd(limit_usd)} budget; took {candidates[index]}"
        note = f"{candidates[0]} worst case {usd(first)} {verdict} ({usd(estimates[index])})"
    else:
        priced = [i for i, c in enumerate(estimates) if c is not None]
        index = min(priced, key=lambda i: (estimates[i], i))
        note = (
            f"no candidate's worst case fits the {usd(limit_usd)} budget; "
            f"took the cheapest, {candidates[index]} ({usd(estimates[index])})"
        )
    chosen = estimates[index]
    if index != 0 and chosen is not None and chosen < first:
        note = f"{DOWNGRADE} {note}"
    rest = [i for i in range(len(candidates)) if i != index]
    within = [i for i in rest if _fits(estimates[i], limit_usd)]
    over = [i for i in rest if not _fits(estimates[i], limit_usd)]
    chain = tuple(candidates[i] for i in within + over)
    return Selection(candidates[index], chain, chosen, (note,))


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
