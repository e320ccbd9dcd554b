"""Config files, workloads, traces, and the SSD and HDD timing models."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bazaar.ftl import (
    DeviceConfig,
    FtlConfigError,
    Geometry,
    HddModel,
    SsdModel,
    TraceError,
    Workload,
    bursty,
    hot_cold,
    load_config,
    load_trace,
    precondition,
    replay,
    sequential,
    shipped_devices,
    steady_state,
    uniform_random,
)

FAST = DeviceConfig(name="fast", geometry=Geometry(channels=4, dies_per_channel=2,
                                                   blocks_per_plane=64, pages_per_block=32,
                                                   spare_factor=0.15))


def _with(channels: int, dies: int) -> DeviceConfig:
    return FAST.replace(geometry={"channels": channels, "dies_per_channel": dies})


def test_shipped_devices_load_and_geometry_locates_pages() -> None:
    assert {"tlc-nvme", "sata-ssd", "tiny"} <= set(shipped_devices())
    nvme = load_config("tlc-nvme")
    g = nvme.geometry
    assert g.physical_pages == 1 << 20
    assert g.logical_pages == int(g.physical_pages * 0.93)
    # Consecutive pages of an erase unit go to different channels, then dies, then planes.
    assert [g.locate(p)[:3] for p in range(3)] == [(0, 0, 0), (1, 0, 0), (2, 0, 0)]
    assert g.locate(g.channels) == (0, 1, 0, 0, 0)
    assert g.locate(g.superblock_pages) == (0, 0, 0, 1, 0)
    with pytest.raises(FtlConfigError):
        g.locate(g.physical_pages)


@pytest.mark.parametrize("text, message", [
    ("[geometry]\nchannels = 0\n", "channels must be a positive integer"),
    ("[geometry]\nspare_factor = 1.5\n", "spare_factor must be in"),
    ("[geometry]\nspare_factor = 0.001\n", "too few spare erase units"),
    ("[geometry]\nchannels = 'four'\n", "channels must be a positive integer"),
    ("[geometry]\nblocks_per_plane = 100000000000\n", "more than this simulator holds"),
    ("[geometry]\nwheels = 3\n", "unknown key"),
    ("[engine]\n", "unknown table"),
    ("[ftl]\ngc_policy = 'random'\n", "gc_policy must be one of"),
    ("[ftl]\nwear_leveling = 'maybe'\n", "wear_leveling must be one of"),
    ("[timing]\nprogram_us = -1\n", "program_us must be >= 0"),
    ("[timing]\nhost_mb_s = 0\n", "host_mb_s must be > 0"),
    ("[hdd]\nrpm = 0\n", "rpm must be > 0"),
    ("[timing]\nmap_cache_entries = -1\n", "map_cache_entries must be"),
    ("[ftl]\nidle_gc_units = -1\n", "idle_gc_units must be an integer >= 0"),
    ("geometry = 3\n", "must be a table"),
    ("[geometry\n", "not valid TOML"),
])
def test_bad_config_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(FtlConfigError, match=message):
        load_config(path)


def test_missing_config_names_the_shipped_ones() -> None:
    with pytest.raises(FtlConfigError, match="tlc-nvme"):
        load_config("no-such-device")


def test_workloads_are_deterministic_and_fit_the_device() -> None:
    a, b = uniform_random("write", 100, 4, 1000, seed=5), uniform_random("write", 100, 4, 1000,
                                                                          seed=5)
    assert np.array_equal(a.first, b.first) and (a.first % 4 == 0).all()
    seq = sequential("read", 10, 300, 1000)
    assert seq.first.tolist() == [0, 300, 600, 0, 300, 600, 0, 300, 600, 0]
    hc = hot_cold(10_000, 1000, hot_data=0.1, hot_writes=0.9, seed=1)
    assert 0.85 < float((hc.first < 100).mean()) < 0.95
    wide = Workload("w", np.array([1], np.int8), np.array([5000], np.int64),
                    np.array([30], np.int64)).fit(1000)
    assert int(wide.first[0]) >= 0 and int(wide.first[0] + wide.count[0]) <= 1000
    with pytest.raises(FtlConfigError):
        uniform_random("erase", 1, 1, 10)  # type: ignore[arg-type]
    with pytest.raises(FtlConfigError):
        sequential("write", 1, 20, 10)


def test_sample_traces_parse_to_the_same_requests() -> None:
    blk = load_trace("sample.blkparse.txt")
    msr = load_trace("sample-msr.csv")
    assert len(blk) == 400 and len(msr) == 382   # blkparse also has 18 discards (TRIM)
    assert blk.pages == msr.pages
    assert blk.arrivals is not None and msr.arrivals is not None
    assert float(blk.arrivals[0]) == 0.0 and float(msr.arrivals[-1]) == pytest.approx(
        float(blk.arrivals[-1]), abs=1e-5)


@pytest.mark.parametrize("name, text, message", [
    ("t.csv", "1,h,0,Write,abc,4096,1\n", "Offset 'abc' is not an integer"),
    ("t.csv", "1,h,0,Erase,0,4096,1\n", "Type must be Read or Write"),
    ("t.csv", "1,h,0,Read,-5,4096,1\n", "out of range"),
    ("t.csv", "Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime\n1,h,0,Read\n",
     "t.csv:2: expected Timestamp"),
    ("t.txt", "  8,0 0 1 x 1 Q W 8 + 8 [a]\n", "time 'x' is not a number"),
    ("t.txt", "nothing to see here\n", "no requests"),
])
def test_bad_traces_name_file_and_line(tmp_path: Path, name: str, text: str,
                                       message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TraceError, match=message):
        load_trace(path)


def test_binary_garbage_and_missing_traces_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage"
    path.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(TraceError, match="not a text trace"):
        load_trace(path)
    with pytest.raises(TraceError, match="no trace file"):
        load_trace(tmp_path / "missing.csv")
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:       # sparse: 5 GiB on paper, nothing on disk
        f.truncate(5 << 30)
    with pytest.raises(TraceError, match="more than this simulator reads"):
        load_trace(huge)


def test_more_channels_and_dies_write_faster() -> None:
    rates = []
    for channels, dies in ((1, 1), (2, 1), (4, 1), (4, 2)):
        config = _with(channels, dies)
        model = SsdModel(config)
        result = model.run(sequential("write", 200, 32, config.geometry.logical_pages), 32)
        rates.append(result.throughput_mb_s)
    assert all(b > 1.6 * a for a, b in itertools.pairwise(rates))


def test_ssd_beats_hdd_most_on_random_reads() -> None:
    lp = FAST.geometry.logical_pages
    ssd = SsdModel(FAST)
    ssd.ftl.write(np.arange(lp))
    hdd = HddModel(FAST.hdd, lp)
    seq = sequential("read", 100, 32, lp)
    rnd = uniform_random("read", 300, 1, lp, seed=2)
    seq_ratio = ssd.run(seq, 32).throughput_mb_s / hdd.run(seq).throughput_mb_s
    rnd_ratio = ssd.run(rnd, 1).iops / hdd.run(rnd).iops
    assert seq_ratio > 1
    assert rnd_ratio > 20 * seq_ratio
    # The HDD streams sequential requests at its media rate and seeks on random ones.
    streamed = HddModel(FAST.hdd, lp).run(sequential("read", 400, 32, lp)).throughput_mb_s
    assert streamed == pytest.approx(FAST.hdd.media_mb_s, rel=0.05)
    assert hdd.run(rnd).latency_us_p50 > 1000 * FAST.hdd.track_to_track_ms


def test_gc_shows_in_the_write_latency_tail() -> None:
    config = FAST.replace(timing={"write_buffer_pages": 64})
    lp = config.geometry.logical_pages
    fresh, steady = SsdModel(config), SsdModel(config)
    seen: list[float] = []
    ssd_ready, _ = replay(config, uniform_random("write", 3000, 1, lp), fills=2.0, hdd=False,
                          progress=seen.append)
    assert ssd_ready.requests == 3000
    assert sum(seen) == pytest.approx(1 + 2 + 1)   # fill, 2 random fills, the run itself
    steady.ftl.write(np.arange(lp))
    steady.ftl.write(np.random.default_rng(0).integers(0, lp, 2 * lp))
    work = uniform_random("write", 3000, 1, lp, seed=9)
    a, b = fresh.run(work, 4), steady.run(work, 4)
    assert a.gc_writes == 0 and b.gc_writes > 0 and b.erases > 0
    assert b.write_amplification > 1.5
    assert b.latency_us_p999 > 3 * a.latency_us_p999
    assert b.throughput_mb_s < a.throughput_mb_s


def test_trace_replay_keeps_arrival_times_and_trims() -> None:
    config = load_config("tiny")
    ssd, hdd = replay(config, load_trace("sample.blkparse.txt"), queue_depth=4)
    assert hdd is not None
    assert ssd.requests == hdd.requests == 400
    # Open loop: the run lasts at least as long as the trace.
    assert ssd.elapsed_s >= 0.7 and ssd.latency_us_p50 < hdd.latency_us_p50


def test_steady_state_reports_the_closed_form() -> None:
    config = load_config("tiny").replace(ftl={"gc_policy": "fifo"})
    seen: list[float] = []
    result = steady_state(config, fills=1.0, measure=0.5, progress=seen.append)
    assert result.closed_form is not None
    assert result.write_amplification == pytest.approx(result.closed_form, rel=0.05)
    assert sum(seen) == pytest.approx(result.device_fills, rel=0.01)
    assert result.pages_per_second > 0
    cb = steady_state(config.replace(ftl={"gc_policy": "cost-benefit"}), fills=0.5, measure=0.2)
    assert cb.closed_form is None and cb.write_amplification > 1
    with pytest.raises(FtlConfigError):
        steady_state(config, fills=-1)


def test_a_small_mapping_cache_costs_random_reads_not_sequential_ones() -> None:
    lp = FAST.geometry.logical_pages
    results = {}
    for entries in (0, lp // 20):
        model = SsdModel(FAST.replace(timing={"map_cache_entries": entries}))
        model.ftl.write(np.arange(lp))
        results[entries] = (model.run(uniform_random("read", 400, 1, lp, seed=4), 1),
                            model.run(sequential("read", 40, 32, lp), 32))
    (rnd_all, seq_all), (rnd_few, seq_few) = results[0], results[lp // 20]
    assert rnd_all.map_misses == 0 and rnd_few.map_misses > 300
    # A miss reads the translation page first: about one more flash read per random read.
    assert rnd_few.latency_us_p50 > rnd_all.latency_us_p50 + FAST.timing.read_us * 0.9
    # Sequential reads touch one translation page per 1024 pages.
    assert seq_few.map_misses <= 2 + 40 * 32 // 1024
    assert seq_few.throughput_mb_s == pytest.approx(seq_all.throughput_mb_s, rel=0.05)


def test_same_seed_same_result() -> None:
    config = load_config("tiny")
    a = steady_state(config, fills=0.5, measure=0.2, seed=3)
    b = steady_state(config, fills=0.5, measure=0.2, seed=3)
    c = steady_state(config, fills=0.5, measure=0.2, seed=4)
    assert (a.write_amplification, a.erases) == (b.write_amplification, b.erases)
    assert (a.write_amplification, a.erases) != (c.write_amplification, c.erases)


def test_idle_time_gc_hides_stalls_from_bursts_at_a_cost_in_writes() -> None:
    config = load_config("tiny").replace(timing={"write_buffer_pages": 64})
    work = bursty("write", 12, 256, 0.5, config.geometry.logical_pages, seed=12)
    results = {}
    for units in (0, 2):
        model = SsdModel(config.replace(ftl={"idle_gc_units": units}))
        precondition(model.ftl, 2.0)
        results[units] = model.run(work, 8)
    foreground, idle = results[0], results[2]
    assert idle.latency_us_p99 < foreground.latency_us_p99 / 5
    assert idle.write_amplification > foreground.write_amplification
    assert bursty("write", 2, 3, 1.0, 100).arrivals.tolist() == [1, 1, 1, 2, 2, 2]
    with pytest.raises(FtlConfigError):
        bursty("write", 2, 3, 0.0, 100)
