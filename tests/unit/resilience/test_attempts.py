"""The attempt plan as a pure value: steps out, outcomes in, no loop and no clock."""

from __future__ import annotations

from laneway.errors import DEFAULT_RETRY_TABLE, ErrorCode, ProviderError
from laneway.resilience.attempts import AttemptPlan, Call, Done, Skip, Wait
from laneway.resilience.backoff import BackoffPolicy
from laneway.resilience.deadline import Deadline
from laneway.types import ModelInfo, ModelRef

A = ModelInfo(ModelRef("p", "a"), frozenset(), context_window=8_000)
B = ModelInfo(ModelRef("p", "b"), frozenset(), context_window=200_000)
C = ModelInfo(ModelRef("q", "c"), frozenset())


def plan(*candidates: ModelInfo, profiles: int = 1, total_s: float = 60.0) -> AttemptPlan:
    return AttemptPlan(
        candidates,
        deadline=Deadline(start=0.0, total_s=total_s, attempt_s=10.0),
        table=DEFAULT_RETRY_TABLE,
        backoff=BackoffPolicy(),
        profiles=lambda provider: profiles if provider == "p" else 1,
        attempt_cap_s=lambda provider: None,
    )


def error(info: ModelInfo, code: ErrorCode) -> ProviderError:
    return ProviderError("x", provider=info.ref.provider, model=info.ref.model, code=code)


def call(step: object) -> Call:
    assert isinstance(step, Call), step
    return step


def test_unavailable_is_retried_with_backoff_then_the_next_model() -> None:
    walk = plan(A, C)
    first = call(walk.next(0.0))
    assert (first.model, first.number, first.timeout_s) == (A.ref, 1, 10.0)
    assert walk.failed(first, error(A, ErrorCode.UNAVAILABLE), 1.0, probe=False) == "retry"
    assert walk.next(1.0) == Wait(0.5)
    second = call(walk.next(1.5))
    assert second.number == 2
    walk.failed(second, error(A, ErrorCode.UNAVAILABLE), 2.0, probe=False)
    assert walk.next(2.0) == Wait(1.0)
    third = call(walk.next(3.0))
    assert walk.failed(third, error(A, ErrorCode.UNAVAILABLE), 3.0, probe=False) == "next_model"
    assert call(walk.next(3.0)).model == C.ref


def test_an_open_breaker_moves_on_at_once_even_on_a_retry() -> None:
    walk = plan(A, C)
    first = call(walk.next(0.0))
    walk.failed(first, error(A, ErrorCode.UNAVAILABLE), 0.0, probe=False)
    assert isinstance(walk.next(0.0), Wait)
    retry = call(walk.next(0.5))
    walk.refused(retry, "circuit_open")
    assert call(walk.next(0.5)).model == C.ref


def test_a_quarantined_profile_is_passed_for_the_next_and_then_for_the_provider() -> None:
    walk = plan(A, B, C, profiles=2)
    first = call(walk.next(0.0))
    walk.refused(first, "auth_quarantined")
    second = call(walk.next(0.0))
    assert (second.model, second.profile, second.number) == (A.ref, 1, 1)
    assert walk.failed(second, error(A, ErrorCode.AUTH), 0.0, probe=False) == "skip_provider"
    assert walk.next(0.0) == Skip(B.ref, "auth")
    assert call(walk.next(0.0)).model == C.ref


def test_a_rate_limit_rotates_to_the_next_profile_without_waiting() -> None:
    walk = plan(A, profiles=2)
    first = call(walk.next(0.0))
    assert walk.failed(first, error(A, ErrorCode.RATE_LIMIT), 0.0, probe=False) == "rotate"
    rotated = call(walk.next(0.0))
    assert (rotated.profile, rotated.number) == (1, 1)


def test_a_probe_gets_no_second_try() -> None:
    walk = plan(A, C)
    first = call(walk.next(0.0))
    assert walk.failed(first, error(A, ErrorCode.TIMEOUT), 0.0, probe=True) == "next_model"
    assert call(walk.next(0.0)).model == C.ref


def test_context_length_looks_for_a_larger_window() -> None:
    walk = plan(A, C, B)
    first = call(walk.next(0.0))
    walk.failed(first, error(A, ErrorCode.CONTEXT_LENGTH), 0.0, probe=False)
    assert walk.next(0.0) == Skip(C.ref, "context_too_small")  # its window is unknown
    assert call(walk.next(0.0)).model == B.ref


def test_a_bad_request_stops_and_the_deadline_skips_the_rest() -> None:
    walk = plan(A, C)
    first = call(walk.next(0.0))
    assert walk.failed(first, error(A, ErrorCode.BAD_REQUEST), 0.0, probe=False) == "stop"
    assert walk.next(0.0) == Done(stop=True)

    late = plan(A, C, total_s=5.0)
    first = call(late.next(0.0))
    late.failed(first, error(A, ErrorCode.NETWORK), 6.0, probe=False)
    assert late.next(6.0) == Skip(C.ref, "deadline_exhausted")
    assert late.next(6.0) == Done()
    assert late.deadline_hit
