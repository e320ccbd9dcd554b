"""The three bloom/cache experiments run end to end at tiny sizes and write JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)
import pytest

from bazaar import lab


def test_bloom_sizing_finds_the_optimal_k(tmp_path: Path) -> None:
    result = lab.run("bloom-sizing", quick=True, out_dir=tmp_path,
                     params={"n_sweep": 5_000, "n_probe": 50_000, "n_mem": 5_000})
    assert abs(result["summary"]["best_k"]["10"] - 7) <= 1
    sizes = result["summary"]["memory_mb_10m"]
    assert sizes["Bloom filter p=0.01"] < sizes["SQLite primary-key index"] < sizes["Python set"]
    assert (tmp_path / "bloom-sizing.png").stat().st_size > 0


def test_redis_vs_memcached_runs_on_both_servers(tmp_path: Path) -> None:
    result = lab.run("redis-vs-memcached", quick=True, out_dir=tmp_path,
                     params={"ops": 200, "mem_keys": 1_000})
    rows = {row[0]: row for row in result["rows"]}
    timed = [row for row in result["rows"]
             if isinstance(row[2], float) and "memory" not in row[0]]
    assert len(timed) == 9  # eight workloads on both servers + cache-aside through bazaar.cache
    for name, redis_us, memcached_us, ratio in timed:
        assert 0 < redis_us < 100_000 and 0 < memcached_us < 100_000, name
        assert ratio == pytest.approx(memcached_us / redis_us, abs=0.01), name
    # The verdict's count is the table's count.
    faster = sum(1 for row in timed if row[2] < row[1])
    assert f"Memcached faster on {faster} of {len(timed)} rows" in result["verdict"]
    # A 100-byte value costs at least its 100 bytes and not ten times that, on both.
    memory = rows["memory per 100 B value (bytes, not us)"]
    assert 100 <= memory[1] < 1000 and 100 <= memory[2] < 1000, memory
    # Redis-only structures: measured on Redis, absent from Memcached.
    only = [row for row in result["rows"] if row[2] == "n/a"]
    assert {row[0] for row in only} >= {"ZADD deduplicated commenter", "SETBIT daily login"}
    assert all(row[1] > 0 for row in only)
    on_disk = json.loads((tmp_path / "redis-vs-memcached.json").read_text())
    assert on_disk["verdict"] == result["verdict"] and on_disk["rows"] == result["rows"]


def test_cache_miss_attack_on_the_real_api(tmp_path: Path) -> None:
    result = lab.run("cache-miss-attack", quick=True, out_dir=tmp_path,
                     params={"seconds": 1, "products": 300,
                             "phases": ["no defence", "Bloom guard"]})
    phases = {p["phase"]: p for p in result["summary"]["phases"]}
    none, bloom = phases["no defence"], phases["Bloom guard"]
    # Undefended, random unknown ids all miss the cache and reach the database.
    assert none["attack_requests"] > 0 and none["reached_db_pct"] >= 90, none
    # Guarded, the Bloom filter answers almost all of them (false positives ~1%).
    assert bloom["bloom_rejections"] >= 0.95 * bloom["attack_requests"] > 0, bloom
    assert bloom["db_queries"] <= bloom["attack_requests"] // 100, bloom
    cut = 100 * (1 - bloom["db_queries"] / max(1, none["db_queries"]))
    assert result["summary"]["bloom_cut_pct"] == pytest.approx(cut, abs=1e-3)
    assert cut > 99 and result["verdict"].startswith("Held"), result["verdict"]
    assert (tmp_path / "cache-miss-attack.png").stat().st_size > 0
