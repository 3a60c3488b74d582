"""The budget ledger over the memory store: scopes from config, the request cap, invariants."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laneway.budgets.ledger import BudgetLedger, BudgetScope, Reservation, key_scope, lane_scopes
from laneway.config.schema import BudgetSpec
from laneway.errors import BudgetExceededError
from laneway.state.memory import MemoryBudgetStore


def test_lane_scopes_follow_the_budget_spec() -> None:
    spec = BudgetSpec(usd_per_task=2.0, usd_per_job=10.0, tokens_per_request=8000)
    scopes = lane_scopes(spec, task_id="r1", job_id="j1")
    assert [(s.name, s.usd_limit, s.token_limit) for s in scopes] == [
        ("request:r1", None, 8000),
        ("task:r1", 2.0, None),
        ("job:j1", 10.0, None),
    ]
    assert [s.kind for s in lane_scopes(spec, task_id="r1", job_id=None)] == ["request", "task"]
    assert lane_scopes(None, task_id="r1", job_id="j1") == ()
    assert key_scope("ci-bot", 5.0).name == "key:ci-bot"


async def test_request_token_cap_refuses_before_touching_the_store() -> None:
    store = MemoryBudgetStore()
    ledger = BudgetLedger(store)
    scopes = lane_scopes(
        BudgetSpec(tokens_per_request=1000, usd_per_job=1.0), task_id="r1", job_id="j7"
    )
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve(scopes, 0.01, 1500)
    error = caught.value
    assert (error.scope, error.unit, error.limit, error.estimate) == (
        "request",
        "tokens",
        1000,
        1500,
    )
    assert error.job_id == "j7"
    assert "job 'j7'" in str(error)
    assert (await store.usage("job:j7")).reserved_nanos == 0


async def test_task_refusal_names_the_job_too() -> None:
    ledger = BudgetLedger(MemoryBudgetStore())
    scopes = lane_scopes(BudgetSpec(usd_per_task=0.05), task_id="r1", job_id="j1")
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve(scopes, 0.06, 10)
    assert caught.value.scope == "task"
    assert "this task" in str(caught.value)


async def test_scopes_without_stored_limits_need_no_store_round_trip() -> None:
    ledger = BudgetLedger(MemoryBudgetStore(), new_id=lambda: "fixed")
    reservation = await ledger.reserve([], 1.0, 10)
    assert reservation == Reservation("fixed", (), 1.0, 10)
    assert await ledger.commit(reservation, 1.0, 10)


Step = tuple[str, int, int]  # ("reserve", cents, 0) | ("commit" | "refund", pick, actual_pct)

steps = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(0, 40), st.just(0)),
        st.tuples(st.sampled_from(["commit", "refund"]), st.integers(0, 50), st.integers(0, 100)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(limit_cents=st.integers(0, 200), script=steps)
def test_reservations_never_pass_the_limit_in_any_interleaving(
    limit_cents: int, script: list[Step]
) -> None:
    """Each atomic step in any order: spent + reserved stays within the limit and adds up."""

    async def run() -> None:
        ledger = BudgetLedger(MemoryBudgetStore())
        scope = BudgetScope("job", "j", usd_limit=limit_cents / 100)
        open_: list[Reservation] = []
        spent_cents = 0
        refused: list[bool] = []
        for action, number, pct in script:
            if action == "reserve":
                try:
                    open_.append(await ledger.reserve([scope], number / 100, number))
                except BudgetExceededError:
                    held = spent_cents + sum(r.tokens for r in open_)
                    refused.append(held + number > limit_cents)
            elif open_:
                reservation = open_.pop(number % len(open_))
                if action == "commit":
                    actual = round(reservation.tokens * pct / 100)  # never above the estimate
                    await ledger.commit(reservation, actual / 100, actual)
                    spent_cents += actual
                else:
                    await ledger.refund(reservation)
            left = await ledger.remaining(scope)
            assert left.spent_tokens == spent_cents
            assert left.reserved_tokens == sum(r.tokens for r in open_)
            assert left.spent_tokens + left.reserved_tokens <= limit_cents
        assert all(refused)  # a refusal only when the reservation truly would not fit

    asyncio.run(run())
