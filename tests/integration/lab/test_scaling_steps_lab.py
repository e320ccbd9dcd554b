"""The scaling-steps lab at a tiny size: one topology brought up, loaded at one rate, taken
down; read-your-writes probes on real standbys; JSON and PNG written."""

from __future__ import annotations

from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)

from bazaar import lab


def test_scaling_steps_runs_a_topology_and_the_probes(tmp_path: Path) -> None:
    result = lab.run("scaling-steps", quick=True, out_dir=tmp_path,
                     params={"topologies": ["split"], "rates": [20], "duration_s": 1.5,
                             "probes": 100})
    [row] = result["rows"]
    topology, rate, achieved, p50, p99, errors = row[:6]
    assert (topology, rate) == ("split", 20.0)
    assert achieved > 0 and 0 < p50 <= p99 and errors == 0.0
    split = result["summary"]["topologies"]["split"]
    assert split["nodes"]["app"] == 1 and split["nodes"]["primary"] == 1
    assert split["projected_rps"] > 0 and split["bottleneck"] in ("app", "primary")
    assert split["wrk_get"]["rps"] > 0
    ryw = result["summary"]["read_your_writes"]
    assert ryw["probes"] == 100 and ryw["stale"] == 0
    assert ryw["standby_share"] >= 0.9
    assert ryw["control_stale"] > 0  # without the token the delayed standby is seen stale
    assert f"{ryw['stale']} stale of" in result["verdict"]
    assert (tmp_path / "scaling-steps.png").stat().st_size > 0
    assert (tmp_path / "scaling-steps.json").exists()
