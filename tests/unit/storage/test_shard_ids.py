"""Instagram-style ids: 41 bits of ms, 13 of logical shard, 10 of sequence; and the map."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.storage.shards import (
    EPOCH_MS,
    MAX_SHARDS,
    IdGenerator,
    ShardError,
    ShardMap,
    created_ms,
    make_id,
    shard_of,
)


@given(st.integers(EPOCH_MS, EPOCH_MS + (1 << 40) - 1), st.integers(0, MAX_SHARDS - 1),
       st.integers(0, 1023))
def test_an_id_carries_its_shard_and_time(ms: int, shard: int, seq: int) -> None:
    row_id = make_id(ms, shard, seq)
    assert 0 <= row_id < 1 << 63  # fits a PostgreSQL bigint
    assert shard_of(row_id) == shard and created_ms(row_id) == ms


def test_the_layout_is_instagrams() -> None:
    assert make_id(EPOCH_MS + 1, 0, 0) == 1 << 23
    assert make_id(EPOCH_MS, 1, 0) == 1 << 10
    assert make_id(EPOCH_MS, 0, 5) == 5


@pytest.mark.parametrize(("ms", "shard", "seq"), [
    (EPOCH_MS - 1, 0, 0), (EPOCH_MS + (1 << 40), 0, 0), (EPOCH_MS, MAX_SHARDS, 0),
    (EPOCH_MS, -1, 0), (EPOCH_MS, 0, 1024), (EPOCH_MS, 0, -1)])
def test_out_of_range_parts_are_refused(ms: int, shard: int, seq: int) -> None:
    with pytest.raises(ShardError):
        make_id(ms, shard, seq)


def test_ids_increase_per_shard_even_past_1024_a_millisecond_and_a_clock_step_back() -> None:
    ticks = iter([EPOCH_MS + 10] * 1500 + [EPOCH_MS + 9] * 10 + [EPOCH_MS + 11] * 10_000)
    gen = IdGenerator(clock=lambda: next(ticks))
    ids = [gen.next(3) for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert {shard_of(i) for i in ids} == {3}


def test_the_map_spreads_logical_shards_and_routes_ids() -> None:
    m = ShardMap.spread(16, ["a", "b"])
    assert m.shards_on("a") == list(range(0, 16, 2)) and len(m.shards_on("b")) == 8
    row_id = make_id(EPOCH_MS + 5, 7, 0)
    assert m.server_of(row_id) == "b"
    with pytest.raises(ShardError):
        m.server_of(make_id(EPOCH_MS, 16, 0))  # shard 16 does not exist in a 16-shard map
    with pytest.raises(ShardError):
        ShardMap.spread(0, ["a"])
    with pytest.raises(ShardError):
        ShardMap.spread(4, [])
    with pytest.raises(ShardError):
        shard_of(-1)
