"""URL dedup at scale: memory and time per URL of a set, SQLite UNIQUE and Bloom filters,
measured on real crawl URLs, projected to 100M and 1B; false positives counted.

URLs come from a real crawl of the synthetic web (``bazaar.crawler`` on loopback; their
canonical forms), extended to the sample size with the same shapes. Memory per URL is
measured at the sample size and multiplied out; Bloom sizes are exact (m/8 bytes).
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

from bazaar.bloom import BloomFilter, optimal_bits
from bazaar.lab._baselines import sqlite_set_cost
from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIB = 1024 * 1024
SCALES = (10_000_000, 100_000_000, 1_000_000_000)


def _real_urls(ctx: RunContext, hosts: int) -> list[str]:
    """Canonical URLs fetched by a real crawl of the synthetic web."""
    from bazaar.crawler import CrawlConfig, Crawler, CrawlStore, Politeness
    from bazaar.crawler.synthetic import WebSpec, serve_argv
    from bazaar.processes import Child, free_port

    spec = WebSpec(hosts=hosts, pages=3, links=6, traps=False)
    port = free_port()
    state = ctx.work_dir / "crawl"
    with ctx.step(f"crawl {hosts} synthetic hosts", total=1) as step, \
            Child(serve_argv(port, spec), name="synthetic-web", log=ctx.work_dir / "web.log",
                  ready_url=f"http://127.0.0.1:{port}/__health", ready_timeout=60):
        config = CrawlConfig(seeds=(f"http://h0.web.localhost:{port}/p/0",),
                             allow_domains=("web.localhost",), concurrency=32,
                             politeness=Politeness(floor=0, factor=0), state_dir=state,
                             resolve=(("*.localhost", "127.0.0.1"),))
        asyncio.run(Crawler(config).run())
        step.advance()
    store = CrawlStore(state / "crawl.db")
    urls = [p.url for p in store.pages()]
    store.close()
    return urls


def _extend(urls: list[str], n: int, tag: str) -> list[str]:
    """``n`` distinct URLs shaped like the crawled ones (host and path kept, a counter added)."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        base = urls[i % len(urls)]
        out.append(f"{base}{'&' if '?' in base else '?'}{tag}={i}")
        i += 1
    return out


def _set_cost(keys: list[str], probes: list[str]) -> tuple[float, float]:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    seen = set(keys)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    size += sum(sys.getsizeof(k) for k in keys)  # the strings a set must keep
    started = time.perf_counter()
    assert not any(p in seen for p in probes)
    return size / len(keys), (time.perf_counter() - started) / len(probes)


def run(ctx: RunContext) -> Report:
    hosts = int(ctx.params.get("hosts", 100 if ctx.quick else 1000))
    n = int(ctx.params.get("n", 200_000 if ctx.quick else 10_000_000))
    n_probe = int(ctx.params.get("n_probe", 200_000 if ctx.quick else 2_000_000))
    crawled = _real_urls(ctx, hosts)
    keys, probes = _extend(crawled, n, "in"), _extend(crawled, n_probe, "out")
    rows: list[list[Any]] = []
    results: dict[str, dict[str, Any]] = {}
    with ctx.step("memory and time per URL", total=4) as step:
        per, t = _set_cost(keys, probes)
        results["Python set"] = {"bytes_per_url": per, "lookup_us": t * 1e6, "fp": 0.0}
        step.advance()
        per, t = sqlite_set_cost(ctx, keys, probes)
        results["SQLite UNIQUE index"] = {"bytes_per_url": per, "lookup_us": t * 1e6, "fp": 0.0}
        step.advance()
        for p in (0.01, 1e-6):
            bf = BloomFilter(n, p)
            started = time.perf_counter()
            bf.add_many(keys)
            add = (time.perf_counter() - started) / n
            started = time.perf_counter()
            hits = int(bf.contains_many(probes).sum())
            look = (time.perf_counter() - started) / n_probe
            results[f"Bloom p={p:g}"] = {
                "bytes_per_url": optimal_bits(n, p) / 8 / n, "lookup_us": look * 1e6,
                "add_us": add * 1e6, "fp": hits / n_probe, "fp_count": hits, "target": p}
            step.advance()
    for name, r in results.items():
        rows.append([name, r["bytes_per_url"], r["lookup_us"], r["fp"],
                     *[r["bytes_per_url"] * s / MIB for s in SCALES]])
    bloom6 = results["Bloom p=1e-06"]
    at_100m = bloom6["bytes_per_url"] * 1e8 / MIB
    verdict = (f"{'Held' if at_100m <= 345 else 'Did not hold'}: a Bloom filter at p = 1e-6 "
               f"takes {bloom6['bytes_per_url']:.2f} B/URL, {at_100m:,.0f} MiB for 100M URLs "
               f"(goal <= 345 MiB; Heritrix's default spends ~495 MB for 125M), vs "
               f"{results['Python set']['bytes_per_url'] * 1e8 / MIB / 1024:,.1f} GiB for a set "
               f"and {results['SQLite UNIQUE index']['bytes_per_url'] * 1e8 / MIB / 1024:,.1f} "
               f"GiB for SQLite. Measured false positives: "
               f"{results['Bloom p=0.01']['fp']:.4%} at target 1%, "
               f"{bloom6['fp_count']} of {n_probe:,} at target 1e-6.")
    summary = {"results": results, "n": n, "n_probe": n_probe, "crawled_urls": len(crawled),
               "projected_mib": {name: {str(s): r["bytes_per_url"] * s / MIB for s in SCALES}
                                 for name, r in results.items()}}
    notes = [f"{len(crawled):,} canonical URLs from a real crawl of {hosts} synthetic hosts, "
             f"extended to {n:,} keys and {n_probe:,} absent probes of the same shape.",
             "Set memory: tracemalloc of the table plus the strings; SQLite: file size after "
             "VACUUM; Bloom: m/8 bytes exactly. Projections multiply the per-URL cost.",
             "Not measured here yet: pages/s of N crawler processes sharing the Redis filter "
             "(see docs/lab/url-dedup.md)."]

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        for name, r in results.items():
            ax.loglog(SCALES, [r["bytes_per_url"] * s / MIB for s in SCALES], "o-", label=name)
        ax.axhline(345, ls=":", color="grey")
        ax.set_xlabel("URLs")
        ax.set_ylabel("MiB (log)")
        ax.set_title("Memory to deduplicate URLs (dotted: 345 MiB)")
        ax.legend(fontsize=8)

    return Report(columns=["store", "bytes/URL", "lookup us", "false-positive rate",
                           "MiB at 10M", "MiB at 100M", "MiB at 1B"],
                  rows=rows, verdict=verdict, summary=summary, notes=notes, plot=plot)


EXPERIMENT = Experiment(
    name="url-dedup",
    title="URL dedup: set vs SQLite vs Bloom filters, from 10M to 1B URLs",
    explainer="How to avoid crawling duplicate URLs at Google scale?",
    claim=("A Bloom filter deduplicates crawl URLs in a few bytes each — 100M URLs in "
           "<= 345 MiB at a 1e-6 false-positive rate — where a set or a database index "
           "needs tens of GiB; its false positives stay at the target rate."),
    run=run,
)
