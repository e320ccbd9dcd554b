"""The broker's two experiments run end to end (tiny sizes) and write their JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)

from bazaar import lab


def test_zero_copy_lab_runs_on_the_real_broker(tmp_path: Path) -> None:
    result = lab.run("zero-copy", quick=True, out_dir=tmp_path,
                     params={"log_mib": 4, "rounds": 1})
    assert [row[0] for row in result["rows"]] == ["sendfile (zero-copy)",
                                                 "read + write (copying)"]
    assert all(row[1] > 0 and row[3] > 0 for row in result["rows"])  # bytes served, GB/s
    assert (tmp_path / "zero-copy.png").stat().st_size > 0
    assert json.loads((tmp_path / "zero-copy.json").read_text())["verdict"]


def test_sequential_io_lab_runs_every_pattern(tmp_path: Path) -> None:
    result = lab.run("sequential-io", quick=True, out_dir=tmp_path,
                     params={"mib": 1, "budget_s": 0.2, "rounds": 1})
    patterns = {(row[0], row[1], row[2]) for row in result["rows"]}
    assert ("random write", "4 KiB", "every write") in patterns
    assert ("Bazaar Log append", "64 KiB", "once, at end") in patterns
    assert all(row[3] > 0 for row in result["rows"])
    assert (tmp_path / "sequential-io.png").stat().st_size > 0
