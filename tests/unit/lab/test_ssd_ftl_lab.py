"""The ssd-ftl lab at a tiny size: every part runs and its numbers hold the explainer's shape."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from bazaar import lab


def test_ssd_ftl_lab_runs_tiny(tmp_path: Path) -> None:
    result = lab.run("ssd-ftl", quick=True, out_dir=tmp_path,
                     params={"scale": 1, "wa_pages": 1 << 13, "fills": 1.0})
    assert json.loads((tmp_path / "ssd-ftl.json").read_text()) == result
    assert (tmp_path / "ssd-ftl.png").read_bytes()[:4] == b"\x89PNG"
    summary = result["summary"]
    par = summary["parallelism"]
    one = next(p for p in par if p["channels"] == 1 and p["dies"] == 1)
    most = next(p for p in par if p["channels"] == 8 and p["dies"] == 4)
    assert most["seq_write_mb_s"] > 10 * one["seq_write_mb_s"]
    ratios = {row["case"]: row["ratio"] for row in summary["ssd_vs_hdd"]}
    assert ratios["random read 4 KiB, QD 1"] > ratios["sequential read 128 KiB"] > 1
    wa = summary["write_amplification"]
    for policy in ("greedy", "fifo"):
        points = wa[policy]
        assert [p["spare"] for p in points] == sorted(p["spare"] for p in points)
        assert all(a["measured"] > b["measured"] for a, b in itertools.pairwise(points))
    assert summary["worst_closed_form_error"] < 0.05
    assert summary["worst_hot_cold_error"] < 0.1
    lat = summary["latency_us"]
    assert lat["steady state"]["p999"] > lat["fresh"]["p999"]
    assert lat["bursts, steady + idle GC"]["p99"] < lat["bursts, steady state"]["p99"]
    assert summary["erase_spread"]["static"] < summary["erase_spread"]["off"]
    whole, tenth, _ = summary["map_cache"]
    assert whole["misses"] == 0 and tenth["misses"] > 0
    assert tenth["random_read_iops"] < whole["random_read_iops"]
    assert result["verdict"].startswith("Parallelism held")
