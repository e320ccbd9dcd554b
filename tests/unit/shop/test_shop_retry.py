"""Retries: bounded, jittered, only for conflicts a client may retry."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.shop.domain import RetryableConflict, SoldOut
from bazaar.shop.services import ConflictRetry


def test_retries_conflicts_then_succeeds() -> None:
    seen: list[RetryableConflict] = []
    sleeps: list[float] = []
    calls = iter([RetryableConflict("1"), RetryableConflict("2"), "ok"])

    def fn() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    policy = ConflictRetry(attempts=5, on_retry=seen.append, sleep=sleeps.append)
    assert policy.run(fn) == "ok"
    assert len(seen) == 2 and len(sleeps) == 2


def test_gives_up_after_attempts_and_never_retries_sold_out() -> None:
    count = 0

    def conflict() -> None:
        nonlocal count
        count += 1
        raise RetryableConflict("again")

    with pytest.raises(RetryableConflict):
        ConflictRetry(attempts=3, sleep=lambda s: None).run(conflict)
    assert count == 3

    def sold_out() -> None:
        nonlocal count
        count += 1
        raise SoldOut("product", 1, 1, 0)

    count = 0
    with pytest.raises(SoldOut):
        ConflictRetry(attempts=3, sleep=lambda s: None).run(sold_out)
    assert count == 1


@given(retry=st.integers(0, 20), seed=st.integers(0, 2**32))
def test_backoff_is_bounded_full_jitter(retry: int, seed: int) -> None:
    policy = ConflictRetry(base_delay_s=0.001, max_delay_s=0.05)
    delay = policy.delay(retry, random.Random(seed))
    assert 0 <= delay <= min(0.05, 0.001 * 2**retry)


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        ConflictRetry(attempts=0)
    with pytest.raises(ValueError):
        ConflictRetry(base_delay_s=1, max_delay_s=0.5)
