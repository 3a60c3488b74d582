"""One behaviour suite for every state store: memory and the real Redis.

Each Redis run uses its own key prefix (deleted afterwards), so parallel runs
never see each other's keys. Time is an explicit `now`, never a sleep; the
breaker and ledger policies run on top of each store exactly as the engine
uses them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.budgets.ledger import BudgetLedger, BudgetScope, Reservation
from laneway.config.schema import BreakerSpec
from laneway.errors import BudgetExceededError, ErrorCode
from laneway.resilience.breaker import Breakers, Transition
from laneway.state import StateStore, open_state
from laneway.state.base import BreakerOp, BreakerParams
from laneway.state.quarantine_record import QuarantineRecord

T0 = 1_700_000_000.0
KEY = "anthropic/claude-opus-4-5"
SPEC = BreakerSpec(failure_threshold=3, window_s=300.0, open_s=60.0)


async def _delete_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        state = open_state("memory://")
        yield state
        await state.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"laneway-test:{uuid.uuid4().hex}:"
    state = open_state(url, prefix=prefix)
    try:
        yield state
    finally:
        await state.aclose()
        await _delete_prefix(url, prefix)


@pytest.fixture
def breakers(store: StateStore) -> Breakers:
    return Breakers(store.breakers, SPEC)


async def trip(breakers: Breakers, now: float = T0) -> None:
    for _ in range(SPEC.failure_threshold):
        await breakers.record_failure(KEY, ErrorCode.UNAVAILABLE, now)


# -- breakers ------------------------------------------------------------------


async def test_breaker_opens_after_three_health_failures(breakers: Breakers) -> None:
    first = await breakers.record_failure(KEY, ErrorCode.TIMEOUT, T0)
    second = await breakers.record_failure(KEY, ErrorCode.RATE_LIMIT, T0 + 1)
    third = await breakers.record_failure(KEY, ErrorCode.NETWORK, T0 + 2)
    assert (first, second) == ((), ())
    assert third == (Transition(KEY, "closed", "open"),)
    admission = await breakers.admit(KEY, T0 + 3)
    assert (admission.allowed, admission.state) == (False, "open")
    assert await breakers.snapshot() == {KEY: "open"}


async def test_breaker_records_show_when_it_opened_and_its_recent_failures(
    store: StateStore,
) -> None:
    """What `laneway status` reads: the whole record, the same from memory and Redis."""
    breakers = Breakers(store.breakers, SPEC)
    await breakers.record_failure("other/model", ErrorCode.TIMEOUT, T0 - 5)
    await trip(breakers)
    records = await store.breakers.records()  # type: ignore[attr-defined]
    assert records[KEY].state == "open"
    assert records[KEY].opened_at == T0
    assert records["other/model"].state == "closed"
    assert records["other/model"].failures == (T0 - 5,)


async def test_breaker_stays_open_until_open_s_passes(breakers: Breakers) -> None:
    await trip(breakers)
    for offset in (1.0, 30.0, 59.999):
        admission = await breakers.admit(KEY, T0 + offset)
        assert not admission.allowed
        assert admission.transitions == ()


async def test_breaker_half_opens_with_one_probe_after_open_s(breakers: Breakers) -> None:
    await trip(breakers)
    probe = await breakers.admit(KEY, T0 + 60.0)
    assert (probe.allowed, probe.probe, probe.state) == (True, True, "half_open")
    assert probe.transitions == (Transition(KEY, "open", "half_open"),)
    other = await breakers.admit(KEY, T0 + 60.5)
    assert (other.allowed, other.probe, other.state) == (False, False, "half_open")


async def test_exactly_one_probe_among_fifty_concurrent_admits(breakers: Breakers) -> None:
    await trip(breakers)
    admissions = await asyncio.gather(*(breakers.admit(KEY, T0 + 61.0) for _ in range(50)))
    assert sum(a.allowed for a in admissions) == 1
    assert sum(a.probe for a in admissions) == 1
    assert sum(len(a.transitions) for a in admissions) == 1
    assert {a.state for a in admissions} == {"half_open"}


async def test_probe_success_closes_the_breaker(breakers: Breakers) -> None:
    await trip(breakers)
    await breakers.admit(KEY, T0 + 60.0)
    assert await breakers.record_success(KEY, T0 + 61.0) == (
        Transition(KEY, "half_open", "closed"),
    )
    admission = await breakers.admit(KEY, T0 + 61.5)
    assert (admission.allowed, admission.probe, admission.state) == (True, False, "closed")


async def test_probe_failure_reopens_for_another_open_s(breakers: Breakers) -> None:
    await trip(breakers)
    await breakers.admit(KEY, T0 + 60.0)
    reopened = await breakers.record_failure(KEY, ErrorCode.TIMEOUT, T0 + 62.0)
    assert reopened == (Transition(KEY, "half_open", "open"),)
    assert not (await breakers.admit(KEY, T0 + 121.0)).allowed
    assert (await breakers.admit(KEY, T0 + 122.0)).probe


@pytest.mark.parametrize(
    "code",
    [ErrorCode.BAD_REQUEST, ErrorCode.CONTENT_FILTER, ErrorCode.AUTH, ErrorCode.PII_LEAK],
)
async def test_business_failures_never_trip(breakers: Breakers, code: ErrorCode) -> None:
    for n in range(10):
        assert await breakers.record_failure(KEY, code, T0 + n) == ()
    assert (await breakers.admit(KEY, T0 + 10)).allowed


async def test_a_business_failure_of_the_probe_closes_the_breaker(breakers: Breakers) -> None:
    await trip(breakers)
    await breakers.admit(KEY, T0 + 60.0)
    closed = await breakers.record_failure(KEY, ErrorCode.BAD_REQUEST, T0 + 61.0)
    assert closed == (Transition(KEY, "half_open", "closed"),)


async def test_a_success_resets_the_failure_run(breakers: Breakers) -> None:
    for n in range(2):
        await breakers.record_failure(KEY, ErrorCode.TIMEOUT, T0 + n)
    await breakers.record_success(KEY, T0 + 2)
    for n in range(2):
        assert await breakers.record_failure(KEY, ErrorCode.TIMEOUT, T0 + 3 + n) == ()
    assert (await breakers.admit(KEY, T0 + 5)).state == "closed"


async def test_failures_count_only_within_the_rolling_window(breakers: Breakers) -> None:
    for offset in (0.0, 200.0, 400.0):  # never three within 300 s
        assert await breakers.record_failure(KEY, ErrorCode.NETWORK, T0 + offset) == ()
    tripped = await breakers.record_failure(KEY, ErrorCode.NETWORK, T0 + 450.0)
    assert tripped == (Transition(KEY, "closed", "open"),)  # 200, 400, 450 fit in 300 s


async def test_a_failure_exactly_window_s_old_has_left_the_window(breakers: Breakers) -> None:
    for offset in (0.0, 150.0, 300.0):
        assert await breakers.record_failure(KEY, ErrorCode.NETWORK, T0 + offset) == ()


async def test_a_lost_probe_frees_its_slot_after_the_probe_timeout(breakers: Breakers) -> None:
    await trip(breakers)
    assert (await breakers.admit(KEY, T0 + 60.0)).probe
    assert not (await breakers.admit(KEY, T0 + 119.0)).allowed
    assert (await breakers.admit(KEY, T0 + 120.0)).probe


async def test_a_released_probe_lets_the_next_request_probe(breakers: Breakers) -> None:
    await trip(breakers)
    await breakers.admit(KEY, T0 + 60.0)
    await breakers.release_probe(KEY, T0 + 60.5)
    assert (await breakers.admit(KEY, T0 + 61.0)).probe


async def test_a_late_success_while_open_changes_nothing(breakers: Breakers) -> None:
    await trip(breakers)
    assert await breakers.record_success(KEY, T0 + 1.0) == ()
    assert not (await breakers.admit(KEY, T0 + 2.0)).allowed


async def test_breakers_are_per_key(breakers: Breakers) -> None:
    await trip(breakers)
    other = await breakers.admit("zai/glm-4.7", T0 + 1.0)
    assert (other.allowed, other.state) == (True, "closed")
    assert (await breakers.snapshot()).get("zai/glm-4.7", "closed") == "closed"


# -- budgets --------------------------------------------------------------------


def job(limit_usd: float | None = 1.0, tokens: int | None = None) -> BudgetScope:
    return BudgetScope("job", "build-42", usd_limit=limit_usd, token_limit=tokens)


async def test_two_hundred_concurrent_requests_never_pass_the_job_budget(
    store: StateStore,
) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(1.0)

    async def one_request() -> bool:
        try:
            reservation = await ledger.reserve([scope], 0.01, 100)
        except BudgetExceededError:
            return False
        await asyncio.sleep(0)  # let other requests interleave while this one is "in flight"
        await ledger.commit(reservation, 0.01, 100)
        return True

    results = await asyncio.gather(*(one_request() for _ in range(200)))
    remaining = await ledger.remaining(scope)
    assert sum(results) == 100
    assert remaining.spent_usd == pytest.approx(1.0)
    assert remaining.spent_usd <= 1.0
    assert remaining.reserved_usd == 0.0
    assert remaining.usd == pytest.approx(0.0)


async def test_two_hundred_concurrent_reservations_hold_under_the_limit(
    store: StateStore,
) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(0.5, tokens=7_000)

    async def hold() -> Reservation | None:
        try:
            return await ledger.reserve([scope], 0.003, 60)
        except BudgetExceededError:
            return None

    held = [r for r in await asyncio.gather(*(hold() for _ in range(200))) if r is not None]
    remaining = await ledger.remaining(scope)
    assert len(held) == 116  # 116 * 60 = 6960 tokens; the 117th would pass 7000
    assert remaining.reserved_tokens == 6960
    assert remaining.reserved_usd <= 0.5
    await asyncio.gather(*(ledger.refund(r) for r in held))
    assert (await ledger.remaining(scope)).tokens == 7_000


async def test_refund_restores_what_was_reserved(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(1.0)
    reservation = await ledger.reserve([scope], 0.6, 10)
    assert (await ledger.remaining(scope)).usd == pytest.approx(0.4)
    with pytest.raises(BudgetExceededError):
        await ledger.reserve([scope], 0.6, 10)
    assert await ledger.refund(reservation)
    assert (await ledger.remaining(scope)).usd == pytest.approx(1.0)
    await ledger.reserve([scope], 0.6, 10)


async def test_settling_twice_changes_nothing_the_second_time(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(1.0)
    reservation = await ledger.reserve([scope], 0.2, 10)
    assert await ledger.commit(reservation, 0.15, 8)
    assert not await ledger.commit(reservation, 0.15, 8)
    assert not await ledger.refund(reservation)
    remaining = await ledger.remaining(scope)
    assert (remaining.spent_usd, remaining.reserved_usd) == (0.15, 0.0)
    assert (remaining.spent_tokens, remaining.reserved_tokens) == (8, 0)


async def test_commit_records_actual_usage_not_the_estimate(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(1.0)
    reservation = await ledger.reserve([scope], 0.5, 1000)
    await ledger.commit(reservation, 0.125, 250)
    remaining = await ledger.remaining(scope)
    assert remaining.usd == pytest.approx(0.875)
    assert remaining.spent_tokens == 250


async def test_a_refusal_in_one_scope_reserves_in_none(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    task = BudgetScope("task", "req-1", usd_limit=5.0)
    tight_job = job(0.1)
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve([task, tight_job], 0.2, 10)
    assert caught.value.scope == "job"
    assert (await ledger.remaining(task)).reserved_usd == 0.0
    assert (await ledger.remaining(tight_job)).reserved_usd == 0.0


async def test_budget_error_names_job_limit_spent_and_estimate(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(2.0)
    await ledger.commit(await ledger.reserve([scope], 1.9, 10), 1.9, 10)
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve([scope], 0.25, 10)
    error = caught.value
    assert (error.scope, error.unit, error.job_id) == ("job", "usd", "build-42")
    assert (error.limit, error.spent, error.estimate) == (2.0, 1.9, 0.25)
    for text in ("'build-42'", "$2.0000", "$1.9000", "$0.2500"):
        assert text in str(error)


async def test_job_token_budget(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    scope = job(None, tokens=1000)
    await ledger.reserve([scope], 0.0, 900)
    with pytest.raises(BudgetExceededError) as caught:
        await ledger.reserve([scope], 0.0, 101)
    assert (caught.value.unit, caught.value.limit, caught.value.estimate) == ("tokens", 1000, 101)


async def test_forgetting_a_task_scope_drops_its_usage(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    task = BudgetScope("task", "req-9", usd_limit=1.0)
    await ledger.commit(await ledger.reserve([task], 0.4, 1), 0.4, 1)
    await ledger.close(task)
    assert (await ledger.remaining(task)).usd == 1.0


# -- decision cache -------------------------------------------------------------------


async def test_decision_cache_round_trip(store: StateStore) -> None:
    cache = store.decisions
    assert await cache.get("route:abc", T0) is None
    await cache.set("route:abc", "zai/glm-4.7", ttl_s=600, now=T0)
    await cache.set("route:abc", "anthropic/claude-opus-4-5", ttl_s=600, now=T0)
    assert await cache.get("route:abc", T0 + 1) == "anthropic/claude-opus-4-5"
    assert await cache.get("route:other", T0 + 1) is None


# -- the Lua scripts agree with the Python reference -----------------------------------


@pytest.mark.redis
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["admit", "success", "failure", "release"]),
            st.integers(min_value=0, max_value=25).map(float),  # whole seconds hit boundaries
        ),
        max_size=25,
    )
)
def test_redis_breaker_transitions_match_the_reference(
    redis_url: str, ops: list[tuple[BreakerOp, float]]
) -> None:
    """Random op sequences (time moving forward) give the same outcomes on both backends."""
    params = BreakerParams(failure_threshold=3, window_s=20.0, open_s=15.0, probe_timeout_s=10.0)

    async def run() -> None:
        prefix = f"laneway-test:{uuid.uuid4().hex}:"
        memory, redis_store = open_state("memory://"), open_state(redis_url, prefix=prefix)
        try:
            now = T0
            for op, step in ops:
                now += step
                expected = await memory.breakers.apply(KEY, op, now, params)
                assert await redis_store.breakers.apply(KEY, op, now, params) == expected
            assert await redis_store.breakers.states() == await memory.breakers.states()
        finally:
            await redis_store.aclose()
            await _delete_prefix(redis_url, prefix)

    asyncio.run(run())


async def test_report_lists_every_held_scope_until_it_is_forgotten(store: StateStore) -> None:
    ledger = BudgetLedger(store.budgets)
    task = BudgetScope("task", "req-3", usd_limit=1.0)
    scope = job(5.0)
    await ledger.commit(await ledger.reserve([task, scope], 0.5, 40), 0.25, 30)
    await ledger.reserve([scope], 0.125, 7)
    report = await ledger.report()
    assert report == {
        "job:build-42": {
            "spent_usd": 0.25,
            "reserved_usd": 0.125,
            "spent_tokens": 30.0,
            "reserved_tokens": 7.0,
        },
        "task:req-3": {
            "spent_usd": 0.25,
            "reserved_usd": 0.0,
            "spent_tokens": 30.0,
            "reserved_tokens": 0.0,
        },
    }
    await ledger.close(task)
    assert list(await ledger.report()) == ["job:build-42"]


# -- client-key limits -----------------------------------------------------------------


async def test_key_leases_admit_up_to_the_limit_then_free_on_release(store: StateStore) -> None:
    leases = store.key_limits
    assert await leases.acquire("k", "a", 2, T0, 30.0) == -1
    assert await leases.acquire("k", "b", 2, T0, 30.0) == -1
    assert await leases.acquire("k", "c", 2, T0, 30.0) == 2
    assert await leases.acquire("other", "c", 2, T0, 30.0) == -1  # keys are apart
    await leases.release("k", "a")
    assert await leases.acquire("k", "c", 2, T0, 30.0) == -1


async def test_key_leases_expire_unless_renewed(store: StateStore) -> None:
    leases = store.key_limits
    assert await leases.acquire("k", "kept", 2, T0, 30.0) == -1
    assert await leases.acquire("k", "lost", 2, T0, 30.0) == -1
    assert await leases.renew("k", "kept", T0 + 20, 30.0)
    assert await leases.acquire("k", "new", 2, T0 + 31, 30.0) == -1  # "lost" expired
    assert not await leases.renew("k", "lost", T0 + 31, 30.0)
    assert await leases.acquire("k", "more", 2, T0 + 31, 30.0) == 2  # "kept" and "new"


async def test_concurrent_lease_requests_never_pass_the_limit(store: StateStore) -> None:
    leases = store.key_limits
    results = await asyncio.gather(*(leases.acquire("k", f"l{i}", 4, T0, 30.0) for i in range(20)))
    assert results.count(-1) == 4


async def test_key_spend_adds_per_period(store: StateStore) -> None:
    spend = store.key_limits
    assert await spend.spent("k", "day:2026-12-07") == 0
    assert await spend.add_spend("k", "day:2026-12-07", 400, 172_800.0) == 400
    assert await spend.add_spend("k", "day:2026-12-07", 100, 172_800.0) == 500
    assert await spend.spent("k", "day:2026-12-07") == 500
    assert await spend.add_spend("k", "total", 7, None) == 7
    assert await spend.add_spend("k", "day:2026-12-08", 1, 172_800.0) == 1
    assert await spend.spent("k", "day:2026-12-08") == 1


# -- credential quarantine ------------------------------------------------------------

PROFILE = "anthropic[team-a]"
COOLDOWN_S = 300.0


async def test_an_unknown_profile_is_clear(store: StateStore) -> None:
    assert await store.quarantines.apply(PROFILE, "check", T0, COOLDOWN_S) == "clear"


async def test_a_barred_profile_is_refused_until_the_cooldown_then_probed_once(
    store: StateStore,
) -> None:
    q = store.quarantines
    assert await q.apply(PROFILE, "bar", T0, COOLDOWN_S) == "quarantined"
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S - 1, COOLDOWN_S) == "quarantined"
    assert await q.apply("anthropic[team-b]", "check", T0 + 1, COOLDOWN_S) == "clear"
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S) == "probe"
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S + 1, COOLDOWN_S) == "quarantined"


async def test_the_probes_verdict_decides(store: StateStore) -> None:
    q = store.quarantines
    await q.apply(PROFILE, "bar", T0, COOLDOWN_S)
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S) == "probe"
    await q.apply(PROFILE, "bar", T0 + COOLDOWN_S, COOLDOWN_S)  # the probe got a 401 again
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S + 1, COOLDOWN_S) == "quarantined"
    assert await q.apply(PROFILE, "check", T0 + 2 * COOLDOWN_S, COOLDOWN_S) == "probe"
    await q.apply(PROFILE, "clear", T0 + 2 * COOLDOWN_S, COOLDOWN_S)  # and this one worked
    assert await q.apply(PROFILE, "check", T0 + 2 * COOLDOWN_S, COOLDOWN_S) == "clear"


async def test_a_released_credential_probe_lets_the_next_request_probe(store: StateStore) -> None:
    q = store.quarantines
    await q.apply(PROFILE, "bar", T0, COOLDOWN_S)
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S) == "probe"
    assert await q.apply(PROFILE, "release", T0 + COOLDOWN_S, COOLDOWN_S) == "quarantined"
    assert await q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S) == "probe"


async def test_concurrent_checks_after_the_cooldown_make_exactly_one_probe(
    store: StateStore,
) -> None:
    q = store.quarantines
    await q.apply(PROFILE, "bar", T0, COOLDOWN_S)
    verdicts = await asyncio.gather(
        *(q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S) for _ in range(20))
    )
    assert sorted(verdicts).count("probe") == 1


async def test_the_quarantined_profiles_are_listed_until_cleared(store: StateStore) -> None:
    q = store.quarantines
    assert await q.records() == {}
    await q.apply(PROFILE, "bar", T0, COOLDOWN_S)
    await q.apply("gemini", "bar", T0 + 1, COOLDOWN_S)
    await q.apply(PROFILE, "check", T0 + COOLDOWN_S, COOLDOWN_S)  # its probe goes out
    assert await q.records() == {
        PROFILE: QuarantineRecord(since=T0, probe_at=T0 + COOLDOWN_S),
        "gemini": QuarantineRecord(since=T0 + 1),
    }
    await q.apply(PROFILE, "clear", T0 + COOLDOWN_S, COOLDOWN_S)
    assert list(await q.records()) == ["gemini"]


# -- a call's gate: the quarantine's check, then the breaker's admission ---------------


async def test_the_gate_of_a_clear_profile_is_the_breakers_admission(
    store: StateStore, breakers: Breakers
) -> None:
    verdict, admitted = await breakers.gate(KEY, PROFILE, T0 - 1.0, COOLDOWN_S)
    assert verdict == "clear"
    assert admitted is not None
    assert (admitted.allowed, admitted.probe, admitted.state) == (True, False, "closed")
    await trip(breakers)
    verdict, refused = await breakers.gate(KEY, PROFILE, T0 + 1.0, COOLDOWN_S)
    assert verdict == "clear"
    assert refused is not None
    assert (refused.allowed, refused.state) == (False, "open")


async def test_the_gate_of_a_quarantined_profile_leaves_the_breaker_unasked(
    store: StateStore, breakers: Breakers
) -> None:
    await trip(breakers)
    await store.quarantines.apply(PROFILE, "bar", T0, COOLDOWN_S)
    assert await breakers.gate(KEY, PROFILE, T0 + 60.0, COOLDOWN_S) == ("quarantined", None)
    probe = await breakers.admit(KEY, T0 + 60.0)  # the half-open probe is still free
    assert (probe.allowed, probe.probe, probe.state) == (True, True, "half_open")


async def test_the_gate_takes_the_credentials_probe_and_asks_the_breaker(
    store: StateStore, breakers: Breakers
) -> None:
    await trip(breakers)
    await store.quarantines.apply(PROFILE, "bar", T0, COOLDOWN_S)
    verdict, admission = await breakers.gate(KEY, PROFILE, T0 + COOLDOWN_S, COOLDOWN_S)
    assert verdict == "probe"
    assert admission is not None
    assert (admission.allowed, admission.probe, admission.state) == (True, True, "half_open")
    assert admission.transitions == (Transition(KEY, "open", "half_open"),)
    # both probes are out: the next call is refused by the quarantine first
    assert await breakers.gate(KEY, PROFILE, T0 + COOLDOWN_S, COOLDOWN_S) == ("quarantined", None)
