"""One ``add_many`` contract for every filter: a boolean array, one per key, in order, True
where the filter did not (probably) hold the key before the call — ``~contains_many(keys)``
taken just before adding (RedisBloomFilter is held to it in tests/integration/bloom)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.bloom import BloomFilter, InvalidKeyError, ScalableBloomFilter

Filter = BloomFilter | ScalableBloomFilter
MAKERS: dict[str, Callable[[], Filter]] = {
    "bloom-native": lambda: BloomFilter(2000, 0.01),
    "bloom-numpy": lambda: _numpy(BloomFilter(2000, 0.01)),
    "bloom-murmur3": lambda: BloomFilter(2000, 0.01, hash="murmur3_128"),
    "scalable": lambda: ScalableBloomFilter(100, 0.01),  # grows during the batches below
}


def _numpy(bf: BloomFilter) -> BloomFilter:
    bf._native = False
    return bf


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_add_many_answers_what_contains_many_said_before(make: Callable[[], Filter]) -> None:
    bf = make()
    first = [f"k{i}" for i in range(500)]
    new = bf.add_many(first)
    assert isinstance(new, np.ndarray) and new.dtype == np.bool_ and new.shape == (500,)
    assert new.all()  # an empty filter held none of them
    batch = [f"k{i}" for i in range(250, 750)]
    expected = ~bf.contains_many(batch)
    assert (bf.add_many(batch) == expected).all()
    assert not expected[:250].any() and expected[250:].sum() >= 240  # false positives: few
    assert bf.contains_many(batch).all()  # and now it holds all of them
    assert bf.add_many([]).shape == (0,)


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_a_key_repeated_in_one_batch_gets_one_answer(make: Callable[[], Filter]) -> None:
    bf = make()
    new = bf.add_many(["x", "y", "x", 7, "7"])  # 7 and "7" are the same key
    assert new.tolist() == [True, True, True, True, True]
    assert bf.add_many(["x", "y", "7"]).tolist() == [False, False, False]


@pytest.mark.parametrize("make", MAKERS.values(), ids=MAKERS.keys())
def test_a_bad_key_changes_nothing(make: Callable[[], Filter]) -> None:
    bf = make()
    bf.add_many(["a"])
    with pytest.raises(InvalidKeyError):
        bf.add_many(["b", 2.5])  # type: ignore[list-item]
    assert "b" not in bf and "a" in bf


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.text(max_size=6), max_size=30), max_size=6))
def test_batches_agree_with_add_one_by_one_up_to_repeats(batches: list[list[str]]) -> None:
    batched, single = BloomFilter(500, 0.01), BloomFilter(500, 0.01)
    for batch in batches:
        before = [key in single for key in batch]
        for key in batch:
            single.add(key)
        assert batched.add_many(batch).tolist() == [not seen for seen in before]
    assert batched == single
