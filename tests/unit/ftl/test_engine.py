"""The page-mapped FTL: its invariants (hypothesis) and agreement with the per-page reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.ftl import (
    ERASE,
    GC_PROGRAM,
    GC_READ,
    HOST_PROGRAM,
    AddressError,
    FtlConfigError,
    FtlOptions,
    Geometry,
    PageMappedFtl,
    ReferenceFtl,
    precondition,
)

SMALL = Geometry(channels=1, dies_per_channel=2, planes_per_die=1, blocks_per_plane=16,
                 pages_per_block=4, spare_factor=0.4)
POLICIES = st.builds(FtlOptions,
                     gc_policy=st.sampled_from(["greedy", "cost-benefit", "fifo"]),
                     gc_reserve=st.integers(1, 3),
                     wear_leveling=st.sampled_from(["off", "dynamic", "static"]),
                     wl_threshold=st.integers(1, 4))
LPN = st.integers(0, SMALL.logical_pages - 1)
OPS = st.lists(st.tuples(st.sampled_from(["write", "write", "write", "trim"]),
                         st.lists(LPN, min_size=1, max_size=40)), min_size=1, max_size=40)


def _check_invariants(ftl: PageMappedFtl) -> None:
    l2p, p2l = ftl.mapping()
    mapped = np.flatnonzero(l2p >= 0)
    valid = np.flatnonzero(p2l >= 0)
    # A bijection between mapped logical pages and valid physical pages.
    assert mapped.size == valid.size
    assert np.array_equal(p2l[l2p[mapped]], mapped)
    assert np.array_equal(l2p[p2l[valid]], valid)
    npg = ftl.geometry.superblock_pages
    assert np.array_equal(ftl.valid_counts,
                          np.bincount(valid // npg, minlength=ftl.geometry.superblocks))


@settings(max_examples=150, deadline=None)
@given(options=POLICIES, ops=OPS)
def test_mapping_stays_a_bijection_and_no_write_is_lost(options: FtlOptions,
                                                        ops: list[tuple[str, list[int]]]) -> None:
    ftl = PageMappedFtl(SMALL, options)
    ftl.record_ops()
    last: dict[int, int] = {}   # the model: logical page -> number of the host write it holds
    clock = 0
    for kind, lpns in ops:
        if kind == "write":
            ftl.write(lpns)
            for lpn in lpns:
                last[lpn] = clock
                clock += 1
        else:
            ftl.trim(lpns)
            for lpn in lpns:
                last.pop(lpn, None)
        _check_invariants(ftl)
        everything = np.arange(SMALL.logical_pages)
        want = np.array([last.get(int(p), -1) for p in everything])
        # Every page reads back the last write to it (GC never erased a valid page);
        # trimmed and never-written pages read as unmapped.
        assert np.array_equal(ftl.stamps(everything), want)
        assert np.array_equal(ftl.read(everything) >= 0, want >= 0)
    stats = ftl.stats
    assert stats.write_amplification >= 1
    assert stats.host_writes == clock
    programs: dict[int, int] = {}
    for kind, pages in ftl.take_ops():
        programs[kind] = programs.get(kind, 0) + pages.size
    # The operation log accounts for every flash program and erase.
    assert programs.get(HOST_PROGRAM, 0) == stats.host_writes
    assert programs.get(GC_PROGRAM, 0) == programs.get(GC_READ, 0) == (
        stats.gc_writes + stats.wl_writes)
    assert programs.get(ERASE, 0) == stats.erases


@settings(max_examples=60, deadline=None)
@given(options=POLICIES, ops=OPS)
def test_numpy_engine_equals_the_per_page_reference(options: FtlOptions,
                                                    ops: list[tuple[str, list[int]]]) -> None:
    fast, slow = PageMappedFtl(SMALL, options), ReferenceFtl(SMALL, options)
    for kind, lpns in ops:
        getattr(fast, kind)(lpns)
        getattr(slow, kind)(lpns)
    assert fast.stats == slow.stats
    assert fast.mapping()[0].tolist() == slow.l2p
    assert fast.erase_counts.tolist() == slow.erase_counts


@pytest.mark.parametrize("policy", ["greedy", "cost-benefit", "fifo"])
def test_engines_agree_at_steady_state_of_a_larger_device(policy: Any) -> None:
    geometry = Geometry(channels=2, dies_per_channel=1, blocks_per_plane=64, pages_per_block=16,
                        spare_factor=0.15)
    options = FtlOptions(gc_policy=policy, wear_leveling="static", wl_threshold=5)
    fast, slow = PageMappedFtl(geometry, options), ReferenceFtl(geometry, options)
    writes = np.random.default_rng(7).integers(0, geometry.logical_pages,
                                               4 * geometry.logical_pages)
    fast.write(writes)
    slow.write(writes)
    assert fast.stats == slow.stats
    assert fast.stats.gc_writes > 0 and fast.stats.erases > 0
    assert fast.erase_counts.tolist() == slow.erase_counts


def test_trim_frees_space_and_lowers_write_amplification() -> None:
    geometry = Geometry(channels=1, dies_per_channel=1, blocks_per_plane=64, pages_per_block=32,
                        spare_factor=0.1)
    lp = geometry.logical_pages
    rng = np.random.default_rng(3)
    plain, trimmed = PageMappedFtl(geometry), PageMappedFtl(geometry)
    for ftl in (plain, trimmed):
        ftl.write(np.arange(lp))
    trimmed.trim(np.arange(lp // 2, lp))          # the host deletes half its data
    assert trimmed.stats.trims == lp - lp // 2
    assert (trimmed.read(np.arange(lp // 2, lp)) == -1).all()
    assert int(trimmed.valid_counts.sum()) == lp // 2
    writes = rng.integers(0, lp // 2, 3 * lp)      # and keeps rewriting the half it kept
    for ftl in (plain, trimmed):
        ftl.reset_stats()
        ftl.write(writes)
    # The drive knows half the pages are garbage: far fewer copies per host write.
    assert trimmed.stats.write_amplification < 0.5 * plain.stats.write_amplification
    trimmed.trim([0, 0, 0])                        # trimming twice counts once
    trimmed.trim([0])
    assert trimmed.stats.trims == 1


def test_sequential_overwrites_need_no_copies() -> None:
    geometry = Geometry(channels=2, dies_per_channel=2, blocks_per_plane=32, pages_per_block=8,
                        spare_factor=0.2)
    ftl = PageMappedFtl(geometry)
    for _ in range(5):
        ftl.write(np.arange(geometry.logical_pages))
    # Whole erase units go invalid together: GC only erases, never copies.
    assert ftl.stats.gc_writes == 0
    assert ftl.stats.erases > 0
    assert ftl.stats.write_amplification == 1.0


@pytest.mark.parametrize("bad", [[-1], [SMALL.logical_pages], [2**70], [0.5], ["7"],
                                 [[1, 2]], np.array([True, False])])
def test_bad_addresses_are_refused_and_change_nothing(bad: Any) -> None:
    ftl = PageMappedFtl(SMALL)
    ftl.write([1, 2, 3])
    before = ftl.mapping()[0]
    for op in (ftl.write, ftl.trim, ftl.read):
        with pytest.raises(AddressError):
            op(bad)
    assert np.array_equal(ftl.mapping()[0], before)
    assert ftl.stats.host_writes == 3


def test_empty_requests_are_no_ops() -> None:
    ftl = PageMappedFtl(SMALL)
    ftl.write([])
    ftl.trim([])
    assert ftl.read([]).size == 0
    assert ftl.stats.host_writes == ftl.stats.host_reads == 0
    ftl.read([1, 2])
    assert ftl.stats.host_reads == 2


@pytest.mark.parametrize("policy", ["greedy", "cost-benefit", "fifo"])
def test_preconditioning_ends_at_the_tightest_spare_space_allowed(policy: Any) -> None:
    # 64 units of 16 pages, 7% spare: exactly the data + GC reserve 2 + 2 the check demands.
    tight = Geometry(channels=1, dies_per_channel=1, blocks_per_plane=64, pages_per_block=16,
                     spare_factor=0.07)
    ftl = PageMappedFtl(tight, FtlOptions(gc_policy=policy, wear_leveling="static",
                                          wl_threshold=2))
    precondition(ftl, fills=3.0, seed=1)
    _check_invariants(ftl)
    assert ftl.stats.write_amplification > 5   # nearly full: GC works hard, but it ends
    with pytest.raises(FtlConfigError, match="too few spare erase units"):
        PageMappedFtl(Geometry(channels=1, dies_per_channel=1, blocks_per_plane=64,
                               pages_per_block=16, spare_factor=0.06), FtlOptions())
