"""``bazaar ftl``: simulate an SSD's flash translation layer on a trace or at steady state."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.ftl import DeviceConfig

app = typer.Typer(help="Bazaar FTL: an SSD flash-translation-layer simulator (why SSDs are fast).",
                  no_args_is_help=True)

CONFIG = typer.Argument(..., help="A device TOML file, or a shipped device "
                                  "(see `bazaar ftl devices`).")


@contextmanager
def _progress(total: float, label: str, quiet: bool) -> Iterator[Callable[[float], None]]:
    """A rich bar on stderr when it is a terminal; silent otherwise."""
    if quiet or not sys.stderr.isatty():
        yield lambda _amount: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda amount: bar.advance(task, amount)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


def _load(config: str, gc_policy: str | None, spare: float | None) -> DeviceConfig:
    from bazaar.ftl import load_config

    device = load_config(config)
    if gc_policy is not None:
        device = device.replace(ftl={"gc_policy": gc_policy})
    if spare is not None:
        device = device.replace(geometry={"spare_factor": spare})
    return device


@app.command("devices")
def devices(as_json: bool = JSON) -> None:
    """List the shipped device configs and their geometry."""
    from bazaar.ftl import load_config, shipped_devices

    rows = []
    for name in shipped_devices():
        c = load_config(name)
        g = c.geometry
        rows.append({"name": name, "channels": g.channels, "dies": g.dies_per_channel,
                     "planes": g.planes_per_die, "physical_pages": g.physical_pages,
                     "logical_pages": g.logical_pages, "spare_factor": g.spare_factor,
                     "gc_policy": c.ftl.gc_policy, "host_mb_s": c.timing.host_mb_s})
    if as_json:
        return emit_json(rows)
    emit_table([Col(k, whole=(k == "name")) for k in rows[0]], ([*r.values()] for r in rows))


def _result_row(r: Any) -> list[object]:
    return [r.device, r.workload, r.requests, f"{r.throughput_mb_s:,.1f}", f"{r.iops:,.0f}",
            f"{r.latency_us_p50:,.0f}", f"{r.latency_us_p99:,.0f}", f"{r.latency_us_max:,.0f}",
            f"{r.write_amplification:.3f}"]


SYNTHETIC = ("seq-read", "seq-write", "rand-read", "rand-write", "hot-cold")


def _synthetic(name: str, requests: int, pages: int, logical_pages: int, seed: int) -> Any:
    from typing import Literal

    from bazaar.ftl import hot_cold, sequential, uniform_random

    op: Literal["read", "write"] = "read" if name.endswith("read") else "write"
    if name == "hot-cold":
        return hot_cold(requests, logical_pages, seed=seed)
    if name.startswith("seq"):
        return sequential(op, requests, pages, logical_pages)
    return uniform_random(op, requests, pages, logical_pages, seed=seed)


@app.command("run")
def run(
    config: str = CONFIG,
    trace: str = typer.Argument(..., help="A blkparse text or MSR/SNIA CSV trace, a shipped "
                                          "sample (sample.blkparse.txt, sample-msr.csv), or "
                                          f"a synthetic workload: {', '.join(SYNTHETIC)}."),
    queue_depth: int = typer.Option(1, "--qd", min=1, max=4096, help="Outstanding requests "
                                    "(a trace's timestamps are kept; this caps them)."),
    fills: float = typer.Option(None, "--precondition", min=0, max=100,
                                help="Fill the device sequentially, then this many "
                                     "device-fulls of random writes, before the run "
                                     "(default: fresh, or a sequential fill for a "
                                     "synthetic read workload)."),
    requests: int = typer.Option(10_000, "--requests", min=1, max=10_000_000,
                                 help="Requests of a synthetic workload."),
    request_pages: int = typer.Option(1, "--pages", min=1, max=65_536,
                                      help="Pages per request of a synthetic workload."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of a synthetic workload."),
    trace_format: str = typer.Option(None, "--format", help="blkparse or msr (default: guess)."),
    gc_policy: str = typer.Option(None, "--gc", help="greedy, cost-benefit or fifo."),
    hdd: bool = typer.Option(True, "--hdd/--no-hdd", help="Also replay on the HDD baseline."),
    as_json: bool = JSON,
) -> None:
    """Replay TRACE (or a synthetic workload) on the device CONFIG and on an HDD of its size."""
    from bazaar.ftl import FtlError, load_trace, replay

    try:
        device = _load(config, gc_policy, None)
        if trace in SYNTHETIC:
            workload = _synthetic(trace, requests, request_pages, device.geometry.logical_pages,
                                  seed)
            if fills is None and trace.endswith("read"):
                fills = 0.0
        else:
            workload = load_trace(trace, device.geometry.page_size, trace_format)
        total = 1.0 + (0.0 if fills is None else 1.0 + fills)
        with _progress(total, f"replaying {len(workload):,} requests", as_json) as step:
            ssd, disk = replay(device, workload, queue_depth, fills, hdd, step)
    except FtlError as exc:
        raise _fail(exc) from exc
    results = [ssd] + ([disk] if disk else [])
    if as_json:
        return emit_json({"config": device.name, "results": results})
    emit_table([Col("device", whole=True), Col("workload"), Col("requests"), Col("MB/s"),
                Col("IOPS"), Col("p50 µs"), Col("p99 µs"), Col("max µs"), Col("WA")],
               (_result_row(r) for r in results), title=f"{workload.name} at QD {queue_depth}")


@app.command("steady")
def steady(
    config: str = CONFIG,
    fills: float = typer.Option(3.0, "--fills", min=0, max=100,
                                help="Device-fulls of random writes before measuring."),
    measure: float = typer.Option(1.0, "--measure", min=0.01, max=100,
                                  help="Device-fulls of random writes measured."),
    gc_policy: str = typer.Option(None, "--gc", help="greedy, cost-benefit or fifo."),
    spare: float = typer.Option(None, "--spare", help="Spare factor (over-provisioning)."),
    seed: int = typer.Option(0, "--seed", min=0),
    as_json: bool = JSON,
) -> None:
    """Drive the device to steady state with random writes: write amplification vs closed form."""
    from bazaar.ftl import FtlError, steady_state

    try:
        device = _load(config, gc_policy, spare)
        with _progress(1 + fills + measure, "random writes (device-fulls)", as_json) as step:
            result = steady_state(device, fills, measure, seed, step)
    except FtlError as exc:
        raise _fail(exc) from exc
    if as_json:
        return emit_json(result)
    closed = "n/a" if result.closed_form is None else f"{result.closed_form:.3f}"
    emit_table([Col("quantity", whole=True), Col("value")], [
        ["device", result.device], ["GC policy", result.gc_policy],
        ["logical / physical pages", f"{result.logical_pages:,} / {result.physical_pages:,}"],
        ["spare factor (effective)",
         f"{result.spare_factor:.3f} ({result.effective_spare_factor:.4f})"],
        ["pages per erase unit", result.pages_per_erase_unit],
        ["host writes measured", f"{result.host_writes:,}"],
        ["write amplification", f"{result.write_amplification:.3f}"],
        ["closed form", closed],
        ["erase count min / max", f"{result.erase_count_min} / {result.erase_count_max}"],
        ["simulated pages/s", f"{result.pages_per_second:,.0f}"],
        ["wall time", f"{result.seconds:.1f} s"]], title="steady state")
