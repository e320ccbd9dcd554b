"""Bazaar FTL on a 1M-page device: simulated host page writes per second.

1. The issue's target: a 1,048,576-page device (8 parallel units x 128 pages x 1024 erase
   units, 7% spare, greedy GC) driven to steady state: a sequential fill plus 3 device-fulls of
   uniform random writes, then 1 more measured (goal: < 60 s on one core). Its write
   amplification is printed beside Desnoyers' closed form.
2. The numpy engine against the baseline measured in the same run: the same FTL one page at a
   time in plain Python (``ReferenceFtl``, identical results by test), both on the same device
   and the same writes (sequential fill + a slice of random writes at full occupancy).
3. The timing model (per flash operation, in Python): 4 KiB random writes at steady state,
   flash operations scheduled per second of wall time.
"""

from __future__ import annotations

import time

import numpy as np

from bazaar.ftl import (
    DeviceConfig,
    Geometry,
    PageMappedFtl,
    ReferenceFtl,
    SsdModel,
    steady_state,
    uniform_random,
)

GEOMETRY = Geometry(channels=4, dies_per_channel=2, planes_per_die=1, blocks_per_plane=1024,
                    pages_per_block=128, spare_factor=0.07)


def _engines(random_fill: float) -> tuple[float, float]:
    lp = GEOMETRY.logical_pages
    writes = np.random.default_rng(1).integers(0, lp, int(random_fill * lp))
    rates = []
    for engine in (PageMappedFtl, ReferenceFtl):
        ftl = engine(GEOMETRY)
        started = time.perf_counter()
        ftl.write(np.arange(lp))
        ftl.write(writes)
        elapsed = time.perf_counter() - started
        rates.append((lp + writes.size) / elapsed)
        print(f"  {engine.__name__:<14} {lp + writes.size:>10,} host writes  "
              f"{elapsed:6.2f} s  {rates[-1]:>12,.0f} pages/s  "
              f"WA {ftl.stats.write_amplification:.3f}",
              flush=True)
    return rates[0], rates[1]


def main(quick: bool) -> None:
    config = DeviceConfig(name="bench-1M", geometry=GEOMETRY)
    fills = 1.0 if quick else 3.0
    print(f"steady state: {GEOMETRY.physical_pages:,} physical pages, sequential fill + "
          f"{fills:g} + 1 device-fulls of random writes", flush=True)
    result = steady_state(config, fills=fills, measure=1.0)
    total = (1 + fills + 1) * result.logical_pages
    print(f"  {result.seconds:.1f} s wall for {total:,.0f} host writes "
          f"({total / result.seconds:,.0f} pages/s), WA {result.write_amplification:.3f} vs "
          f"closed form {result.closed_form:.3f}, {result.erases:,} erases measured", flush=True)
    print(f"  target < 60 s: {'met' if result.seconds < 60 else 'NOT met'}")
    print("engines on the same writes (sequential fill + random writes):", flush=True)
    fast, slow = _engines(0.1 if quick else 0.5)
    print(f"numpy engine / plain-Python baseline: {fast / slow:.1f}x")
    model = SsdModel(config)
    model.ftl.write(np.arange(GEOMETRY.logical_pages))
    model.ftl.write(np.random.default_rng(2).integers(0, GEOMETRY.logical_pages,
                                                      GEOMETRY.logical_pages))
    requests = 20_000 if quick else 100_000
    started = time.perf_counter()
    timed = model.run(uniform_random("write", requests, 1, GEOMETRY.logical_pages, seed=3), 32)
    elapsed = time.perf_counter() - started
    # A host write is one program; each copy is a read and a program (erases not counted).
    flash_ops = requests * (2 * timed.write_amplification - 1)
    print(f"timing model: {requests:,} random writes at steady state in {elapsed:.2f} s "
          f"(~{flash_ops / elapsed:,.0f} flash operations/s; simulated {timed.iops:,.0f} IOPS, "
          f"WA {timed.write_amplification:.2f})")
