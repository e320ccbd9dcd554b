"""``bazaar ftl``: devices, run (trace replay) and steady, as tables and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bazaar.cli import app

runner = CliRunner()


def test_devices_lists_the_shipped_configs() -> None:
    out = runner.invoke(app, ["ftl", "devices", "--json"])
    assert out.exit_code == 0, out.output
    names = {d["name"] for d in json.loads(out.stdout)}
    assert {"tlc-nvme", "sata-ssd", "tiny"} <= names


def test_run_replays_a_sample_trace_on_ssd_and_hdd() -> None:
    out = runner.invoke(app, ["ftl", "run", "tiny", "sample-msr.csv", "--qd", "4", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    ssd, hdd = data["results"]
    assert ssd["device"] == "ssd tiny" and hdd["device"] == "hdd"
    assert ssd["requests"] == hdd["requests"] == 382
    assert ssd["bytes_moved"] == hdd["bytes_moved"] > 0
    assert ssd["latency_us_p50"] < hdd["latency_us_p50"]
    table = runner.invoke(app, ["ftl", "run", "tiny", "sample.blkparse.txt", "--no-hdd",
                                "--precondition", "1", "--gc", "fifo"])
    assert table.exit_code == 0, table.output
    assert "ssd tiny" in table.stdout and "hdd" not in table.stdout.split("\n", 2)[2]


def test_steady_reports_write_amplification_and_closed_form() -> None:
    out = runner.invoke(app, ["ftl", "steady", "tiny", "--fills", "1", "--measure", "0.5",
                              "--spare", "0.2", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["spare_factor"] == 0.2 and data["gc_policy"] == "greedy"
    assert abs(data["write_amplification"] / data["closed_form"] - 1) < 0.05
    table = runner.invoke(app, ["ftl", "steady", "tiny", "--fills", "0.5", "--measure", "0.2"])
    assert table.exit_code == 0 and "write amplification" in table.stdout


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[geometry]\nchannels = -3\n")
    garbage = tmp_path / "trace.csv"
    garbage.write_bytes(b"\x00\xff" * 50)
    for args, message in (
            (["ftl", "run", str(bad), "sample-msr.csv"], "channels must be a positive integer"),
            (["ftl", "run", "nope", "sample-msr.csv"], "no config file 'nope'"),
            (["ftl", "run", "tiny", str(garbage)], "not a text trace"),
            (["ftl", "run", "tiny", "sample-msr.csv", "--gc", "lottery"], "gc_policy"),
            (["ftl", "steady", "tiny", "--spare", "0.001"], "too few spare erase units"),
            (["ftl", "steady", "tiny", "--spare", "2"], "spare_factor must be in")):
        out = runner.invoke(app, args)
        assert out.exit_code == 2, (args, out.output)
        assert message in out.output and "Traceback" not in out.output


def test_run_takes_synthetic_workloads_and_fills_before_reads() -> None:
    out = runner.invoke(app, ["ftl", "run", "tiny", "rand-read", "--requests", "300",
                              "--qd", "8", "--json"])
    assert out.exit_code == 0, out.output
    ssd, hdd = json.loads(out.stdout)["results"]
    assert ssd["workload"] == "random read" and ssd["requests"] == 300
    assert ssd["iops"] > 20 * hdd["iops"]
    # Read from a filled device: the reads reached flash (a fresh device returns zeros fast).
    assert ssd["latency_us_p50"] >= 60
    steady = runner.invoke(app, ["ftl", "run", "tiny", "rand-write", "--requests", "2000",
                                 "--precondition", "1", "--no-hdd", "--json"])
    assert steady.exit_code == 0, steady.output
    assert json.loads(steady.stdout)["results"][0]["write_amplification"] > 1.5
