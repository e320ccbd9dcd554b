"""Placement never over-commits a host and spreads sandboxes to the freest host."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.functions import NoCapacity, Placement


def test_places_on_the_freest_host_then_runs_out() -> None:
    placement = Placement()
    placement.add("a", memory_mb=512, slots=10)
    placement.add("b", memory_mb=1024, slots=10)
    assert placement.place(256) == "b"
    assert placement.place(256) == "b"  # b: 512 free, a: 512 free -> first best kept
    assert {placement.place(256), placement.place(256)} <= {"a", "b"}
    placement.place(256)
    placement.place(256)
    with pytest.raises(NoCapacity):
        placement.place(256)
    placement.release("a", 256)
    assert placement.place(256) == "a"


def test_slots_limit_too_and_removed_hosts_are_gone() -> None:
    placement = Placement()
    placement.add("a", memory_mb=4096, slots=1)
    placement.place(128)
    with pytest.raises(NoCapacity):
        placement.place(128)
    placement.remove("a")
    placement.release("a", 128)  # ignored
    assert placement.hosts() == []
    with pytest.raises(ValueError):
        placement.add("z", memory_mb=0, slots=1)


@given(st.lists(st.tuples(st.booleans(), st.sampled_from([64, 128, 256, 512])), max_size=60))
def test_never_overcommits(ops: list[tuple[bool, int]]) -> None:
    placement = Placement()
    placement.add("a", memory_mb=1024, slots=5)
    placement.add("b", memory_mb=2048, slots=3)
    live: list[tuple[str, int]] = []
    for place, memory in ops:
        if place or not live:
            with contextlib.suppress(NoCapacity):
                live.append((placement.place(memory), memory))
        else:
            host, mem = live.pop(0)
            placement.release(host, mem)
        for info in placement.hosts():
            assert 0 <= info.used_memory_mb <= info.memory_mb
            assert 0 <= info.used_slots <= info.slots
            assert info.used_memory_mb == sum(m for h, m in live if h == info.host_id)
