"""Simulated write amplification against Desnoyers' closed forms (uniform random writes).

A 65,536-page device, one erase unit per block (one plane), GC reserve 1, preconditioned with
a sequential fill and two device-fulls of random writes, then measured over two more. The
closed forms are evaluated at the spare factor of the units that can hold data
(:attr:`DeviceConfig.effective_spare_factor`). Tolerances: greedy ±2% (the issue's bound),
LRW/FIFO ±1%.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bazaar.ftl import (
    DeviceConfig,
    FtlConfigError,
    FtlOptions,
    Geometry,
    PageMappedFtl,
    lambert_w0,
    wa_greedy,
    wa_lrw,
)

PAGES = 1 << 16


def _steady_wa(spare: float, pages_per_block: int, policy: str) -> tuple[float, float]:
    config = DeviceConfig(
        geometry=Geometry(channels=1, dies_per_channel=1, planes_per_die=1,
                          blocks_per_plane=PAGES // pages_per_block,
                          pages_per_block=pages_per_block, spare_factor=spare),
        ftl=FtlOptions(gc_policy=policy, gc_reserve=1))  # type: ignore[arg-type]
    ftl = PageMappedFtl(config.geometry, config.ftl)
    lp = config.geometry.logical_pages
    rng = np.random.default_rng(2012)
    ftl.write(np.arange(lp))
    ftl.write(rng.integers(0, lp, 2 * lp))
    ftl.reset_stats()
    ftl.write(rng.integers(0, lp, 2 * lp))
    return ftl.stats.write_amplification, config.effective_spare_factor


@pytest.mark.parametrize("pages_per_block", [64, 128])
@pytest.mark.parametrize("spare", [0.05, 0.1, 0.2, 0.3])
def test_greedy_matches_desnoyers_eq12_within_2_percent(spare: float,
                                                        pages_per_block: int) -> None:
    measured, effective = _steady_wa(spare, pages_per_block, "greedy")
    expected = wa_greedy(effective, pages_per_block)
    assert measured == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize("spare", [0.05, 0.15, 0.3])
def test_fifo_matches_the_lrw_closed_form_within_1_percent(spare: float) -> None:
    measured, effective = _steady_wa(spare, 64, "fifo")
    assert measured == pytest.approx(wa_lrw(effective), rel=0.01)


def test_greedy_beats_fifo_and_both_fall_with_spare_space() -> None:
    rows = [(_steady_wa(s, 64, "greedy")[0], _steady_wa(s, 64, "fifo")[0]) for s in (0.1, 0.25)]
    assert all(greedy < fifo for greedy, fifo in rows)
    assert rows[1][0] < rows[0][0] and rows[1][1] < rows[0][1]


def test_lambert_w_solves_its_equation() -> None:
    for x in (-1 / math.e, -0.3, -0.01, 0.0, 0.5, 1.0, 10.0, 1e6):
        w = lambert_w0(x)
        assert w >= -1
        assert w * math.exp(w) == pytest.approx(x, rel=1e-12, abs=1e-15)
    with pytest.raises(FtlConfigError):
        lambert_w0(-1)


def test_closed_forms_known_values_and_limits() -> None:
    # A spare factor of 1/2 (alpha = 2): W0(-2/e^2) = -0.4064, so A = 2 / 1.5936.
    assert wa_lrw(0.5) == pytest.approx(2 / (2 + lambert_w0(-2 * math.exp(-2))))
    assert wa_lrw(0.5) == pytest.approx(1.2550, abs=1e-4)
    # Greedy tends to LRW as blocks grow, and is never worse.
    assert wa_greedy(0.1, 1 << 20) == pytest.approx(wa_lrw(0.1), rel=1e-4)
    assert wa_greedy(0.1, 32) < wa_lrw(0.1)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(FtlConfigError):
            wa_lrw(bad)
    with pytest.raises(FtlConfigError):
        wa_greedy(0.1, 0)
