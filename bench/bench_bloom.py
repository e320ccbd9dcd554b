"""Bloom filters on 1M URL-like strings at p = 1%: bazaar.bloom vs rbloom (Rust) and pybloom-live.

Measures, in one run: batch add and query throughput, per-key add/query, bits per element vs
the optimum -ln p / (ln 2)^2, and the measured false-positive rate on 1M absent keys.
Ours is measured on both batch paths: the C extension (``bazaar.bloom._native``, when built)
and the numpy path it falls back to; both set the same bits.
rbloom is measured twice: with its default hash (Python's per-process ``hash()``, so its
filters cannot be saved or shared between processes) and with a stable xxh3 hash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import xxhash

from bazaar.bloom import NATIVE_AVAILABLE, NATIVE_UNAVAILABLE_REASON, BloomFilter

P = 0.01


def _urls(n: int, salt: str) -> list[str]:
    return [f"https://shop{i % 97}.example.com/{salt}/item/{i}?ref={i * 7919 % 100003}"
            for i in range(n)]


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _stable_hash(key: str) -> int:
    return int.from_bytes(xxhash.xxh3_128_digest(key.encode()), "big", signed=True)


def main(quick: bool) -> None:
    import pybloom_live
    import rbloom

    n = 1_000_000
    repeat = 2 if quick else 5
    n_pybloom = 100_000 if quick else n
    present = _urls(n, "in")
    absent = _urls(n, "out")
    optimum = -math.log(P) / math.log(2) ** 2
    rows: list[tuple[str, float, float, float, float]] = []

    def ours(hash_name: str, native: bool) -> None:
        def build() -> BloomFilter:
            bf = BloomFilter(n, P, hash=hash_name)  # type: ignore[arg-type]
            bf._native = native
            bf.add_many(present)
            return bf

        add = _best(build, repeat)
        bf = build()
        query = _best(lambda: bf.contains_many(present), repeat)
        assert bool(bf.contains_many(present).all()), "false negative"
        fp = float(bf.contains_many(absent).mean())
        path = "C" if native and hash_name == "xxh3_128" and NATIVE_AVAILABLE else "numpy"
        rows.append((f"bazaar batch, {hash_name}, {path} path", add, query, bf.bits / n, fp))

    if not NATIVE_AVAILABLE:
        print(f"note: {NATIVE_UNAVAILABLE_REASON}")
    ours("xxh3_128", native=True)
    ours("xxh3_128", native=False)
    ours("murmur3_128", native=True)

    def rb_per_key() -> rbloom.Bloom:
        bf = rbloom.Bloom(n, P)
        add = bf.add
        for key in present:
            add(key)
        return bf

    add = _best(rb_per_key, repeat)
    rb = rb_per_key()
    query = _best(lambda: [key in rb for key in present], repeat)
    fp = sum(key in rb for key in absent) / n
    rows.append(("rbloom default hash, per key", add, query, rb.size_in_bits / n, fp))

    def rb_bulk() -> rbloom.Bloom:
        bf = rbloom.Bloom(n, P)
        bf.update(present)
        return bf

    add = _best(rb_bulk, repeat)
    query = _best(lambda: list(map(rb.__contains__, present)), repeat)
    rows.append(("rbloom default hash, update / map", add, query, rb.size_in_bits / n, fp))

    def rb_stable() -> rbloom.Bloom:
        bf = rbloom.Bloom(n, P, hash_func=_stable_hash)
        bf.update(present)
        return bf

    add = _best(rb_stable, repeat)
    rs = rb_stable()
    query = _best(lambda: list(map(rs.__contains__, present)), repeat)
    fp = sum(map(rs.__contains__, absent)) / n
    rows.append(("rbloom stable xxh3 hash, update / map", add, query, rs.size_in_bits / n, fp))

    sub = present[:n_pybloom]

    def pb_build() -> pybloom_live.BloomFilter:
        bf = pybloom_live.BloomFilter(capacity=n, error_rate=P)
        for key in sub:
            bf.add(key)
        return bf

    scale = n / n_pybloom
    add = _best(pb_build, 1) * scale
    pb = pb_build()
    query = _best(lambda: [key in pb for key in sub], 1) * scale
    probe = absent[:n_pybloom]
    for key in present[n_pybloom:n]:  # fill to capacity for an honest false-positive rate
        pb.add(key) if not quick else None
    fp = sum(key in pb for key in probe) / len(probe) if not quick else math.nan
    rows.append((f"pybloom-live per key{' (100k, scaled)' if quick else ''}", add, query,
                 pb.num_bits / n, fp))

    print(f"n = {n:,}, p = {P}, optimum {optimum:.3f} bits/element, k = 7")
    print(f"{'filter':44s} {'add 1M s':>9s} {'query 1M s':>11s} {'bits/elem':>10s} "
          f"{'vs opt':>7s} {'fp rate':>8s}")
    for name, add_s, query_s, bpe, fp_rate in rows:
        print(f"{name:44s} {add_s:9.3f} {query_s:11.3f} {bpe:10.3f} "
              f"{(bpe / optimum - 1) * 100:+6.2f}% {fp_rate:8.4f}")
    base = rows[0]
    print(f"ratios ({base[0]} time / other time; < 1 means bazaar is faster):")
    for name, add_s, query_s, *_ in rows[1:]:
        print(f"  vs {name:44s} add {base[1] / add_s:5.2f}x  query {base[2] / query_s:5.2f}x")


if __name__ == "__main__":
    main(quick=True)
