"""Exponential backoff with optional full jitter: pure, so no test sleeps."""

from __future__ import annotations

import random

import pytest

from laneway.config.schema import BackoffSpec
from laneway.resilience.backoff import BackoffPolicy


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = BackoffPolicy(base_s=0.5, multiplier=2.0, max_s=3.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_built_from_config_without_jitter_is_reproducible() -> None:
    policy = BackoffPolicy.from_spec(BackoffSpec(base_s=1.0, multiplier=3.0, max_s=100.0))
    assert policy.jitter is False
    assert [policy.delay_s(n) for n in (1, 2, 3)] == [1.0, 3.0, 9.0]


def test_huge_retry_numbers_stay_at_the_cap_without_overflow() -> None:
    policy = BackoffPolicy(base_s=1.0, multiplier=1e6, max_s=30.0)
    assert policy.delay_s(10_000) == 30.0


def test_full_jitter_draws_below_the_ceiling_from_the_injected_source() -> None:
    spec = BackoffSpec(base_s=1.0, multiplier=2.0, max_s=8.0, jitter=True)
    first = BackoffPolicy.from_spec(spec, rng=random.Random(7))
    second = BackoffPolicy.from_spec(spec, rng=random.Random(7))
    draws = [first.delay_s(n) for n in (1, 2, 3, 4, 5)]
    assert draws == [second.delay_s(n) for n in (1, 2, 3, 4, 5)]
    for n, draw in enumerate(draws, start=1):
        assert 0.0 <= draw <= min(8.0, 2.0 ** (n - 1))
    assert len(set(draws)) > 1


@pytest.mark.parametrize("retry", [0, -3])
def test_retry_numbers_below_one_wait_the_base(retry: int) -> None:
    assert BackoffPolicy(base_s=0.25).delay_s(retry) == 0.25
