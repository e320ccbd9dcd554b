"""The big-data-pipeline experiment runs end to end at a tiny size and writes JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)

from bazaar import lab


def test_big_data_pipeline_lab_holds_at_a_tiny_size(tmp_path: Path) -> None:
    # One kill: the lab's plumbing is what this checks; exactly-once under many kills is
    # test_pipeline_exactly_once.py's (and the lab's full run's).
    result = lab.run("big-data-pipeline", quick=True, out_dir=tmp_path,
                     params={"events": 3_000, "kills": 1, "batch": 500, "dask": False,
                             "load_kills": 1, "load_window_s": 1.0})
    summary = result["summary"]
    assert summary["events"] >= 3_000 and summary["kills"] == 1
    assert summary["duplicates"] == summary["losses"] == 0
    assert summary["row_hash_differences"] == 0
    assert summary["digests_equal"] and summary["warehouse_equal_after_kills"]
    assert result["verdict"].startswith("Held")
    assert (tmp_path / "big-data-pipeline.png").stat().st_size > 0
    assert json.loads((tmp_path / "big-data-pipeline.json").read_text())["verdict"]
