"""The three bloom/cache experiments run end to end at tiny sizes and write JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)

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
    assert rows["GET 100 B (hit)"][1] > 0 and rows["GET 100 B (hit)"][2] > 0
    assert rows["ZADD deduplicated commenter"][2] == "n/a"
    assert json.loads((tmp_path / "redis-vs-memcached.json").read_text())["verdict"]


def test_cache_miss_attack_on_the_real_api(tmp_path: Path) -> None:
    result = lab.run("cache-miss-attack", quick=True, out_dir=tmp_path,
                     params={"seconds": 1, "products": 300,
                             "phases": ["no defence", "Bloom guard"]})
    phases = {p["phase"]: p for p in result["summary"]["phases"]}
    assert phases["no defence"]["db_queries"] > 0
    assert phases["Bloom guard"]["db_queries"] <= phases["Bloom guard"]["attack_requests"] // 100
    assert phases["Bloom guard"]["bloom_rejections"] > 0
    assert (tmp_path / "cache-miss-attack.png").stat().st_size > 0
