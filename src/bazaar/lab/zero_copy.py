"""Zero copy: the same Fetch traffic served with ``sendfile`` and with read + write.

One log is written once (1 KiB records in ~1 MiB batches). Then, for each mode in turn, a
``bazaar broker serve`` process (``--zero-copy`` or ``--copy``) is started on that log and
two consumers fetch all of it at once over loopback with raw Kafka Fetch requests (they
read the bytes and drop them, so the client side costs little and the broker is what is
measured). Rounds alternate between the modes; the table shows the median round.
Broker CPU comes from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bazaar.broker import LogConfig, run_subprocess
from bazaar.broker.log import TopicLogs
from bazaar.broker.log import batch as rb
from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOPIC = "zc"
_FETCH_MAX = 16 * 1024 * 1024


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _write_log(data_dir: Path, total_bytes: int) -> int:
    """Append ~``total_bytes`` of 1 KiB records; return the end offset."""
    topics = TopicLogs(data_dir / "logs", LogConfig(segment_bytes=1 << 30, retention_ms=None))
    log = topics.create(TOPIC, 1)[0]
    records = [(None, os.urandom(1024)) for _ in range(1000)]
    one = rb.build(records, timestamp_ms=int(time.time() * 1000))
    while log.size < total_bytes:
        log.append(one)
    end = log.end_offset
    topics.close()
    return end


def _recv_into(sock: socket.socket, view: memoryview, n: int) -> None:
    got = 0
    while got < n:
        k = sock.recv_into(view[got:n])
        if not k:
            raise ConnectionError("broker closed the connection")
        got += k


def _consume_all(host: str, port: int, end: int) -> int:
    """Fetch v4 from offset 0 to ``end``; return bytes received."""
    buf = bytearray(_FETCH_MAX + 65536)
    view = memoryview(buf)
    offset, received, corr = 0, 0, 0
    name = TOPIC.encode()
    with socket.create_connection((host, port)) as sock:
        while offset < end:
            corr += 1
            body = (struct.pack(">iiiib", -1, 500, 1, _FETCH_MAX, 0)
                    + struct.pack(">ih", 1, len(name)) + name
                    + struct.pack(">iiqi", 1, 0, offset, _FETCH_MAX))
            frame = struct.pack(">hhih", 1, 4, corr, 2) + b"zc" + body
            sock.sendall(struct.pack(">i", len(frame)) + frame)
            _recv_into(sock, view, 4)
            size = struct.unpack_from(">i", buf)[0]
            _recv_into(sock, view, size)
            received += size + 4
            # header(4) throttle(4) topics(4) name partitions(4) index(4) error(2) hw(8)
            # lso(8) aborted(4) records size(4)
            pos = 4 + 4 + 4 + 2 + len(name) + 4 + 4 + 2 + 8 + 8 + 4
            records_size = struct.unpack_from(">i", buf, pos)[0]
            pos += 4
            stop = pos + records_size
            while pos + rb.PREFIX_SIZE <= stop:
                base, length, delta = rb.parse_prefix(buf, pos)
                if pos + length > stop:
                    break
                offset = base + delta + 1
                pos += length
    return received


def _round(data_dir: Path, end: int, zero_copy: bool, consumers: int) -> dict[str, float]:
    flag = "--zero-copy" if zero_copy else "--copy"
    with run_subprocess(data_dir, args=(flag, "--log-level", "warning")) as broker:
        pid = broker.process.pid
        _consume_all(broker.host, broker.port, min(end, 2000))  # connect, warm up
        results: list[int] = []
        cpu0 = _cpu_seconds(pid)
        started = time.perf_counter()
        threads = [threading.Thread(target=lambda: results.append(
            _consume_all(broker.host, broker.port, end))) for _ in range(consumers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(pid) - cpu0
    gib = sum(results) / 2**30
    return {"seconds": seconds, "gib": gib, "gbps": gib * 2**30 / seconds / 1e9,
            "cpu_per_gib": cpu / gib}


def run(ctx: RunContext) -> Report:
    total = int(ctx.params.get("log_mib", 256 if ctx.quick else 1024)) * 1024 * 1024
    rounds = int(ctx.params.get("rounds", 3 if ctx.quick else 5))
    consumers = 2
    data_dir = ctx.work_dir / "broker"
    with ctx.step("writing the log", total=1) as s:
        end = _write_log(data_dir, total)
        s.advance()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with ctx.step(f"{rounds} rounds x 2 modes, {consumers} consumers", total=rounds * 2) as s:
        for _ in range(rounds):
            for mode in (True, False):
                runs[mode].append(_round(data_dir, end, mode, consumers))
                s.advance()

    def med(mode: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    rows: list[list[Any]] = []
    for mode, label in ((True, "sendfile (zero-copy)"), (False, "read + write (copying)")):
        rows.append([label, round(med(mode, "gib"), 2), round(med(mode, "seconds"), 3),
                     round(med(mode, "gbps"), 2), round(med(mode, "cpu_per_gib"), 3)])
    time_saved = 1 - med(True, "seconds") / med(False, "seconds")
    cpu_saved = 1 - med(True, "cpu_per_gib") / med(False, "cpu_per_gib")
    speedup = med(True, "gbps") / med(False, "gbps")
    held = time_saved >= 0.5
    verdict = (f"sendfile served the same bytes in {time_saved:.0%} less time "
               f"({speedup:.2f}x the throughput) with {cpu_saved:.0%} less broker CPU per GiB; "
               + ("the explainer's ~65% holds" if time_saved >= 0.55 else
                  "the explainer's ~65% less time does not fully hold here"
                  if not held else "close to the explainer's ~65%")
               + " (data in page cache, loopback).")
    summary = {"time_saved": time_saved, "cpu_saved": cpu_saved, "speedup": speedup,
               "rounds": rounds, "consumers": consumers, "log_bytes": total}

    def plot(fig: Figure) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        labels = ["sendfile", "read+write"]
        ax1.bar(labels, [med(True, "gbps"), med(False, "gbps")], color=["#2a9d8f", "#e76f51"])
        ax1.set_ylabel("GB/s served (2 consumers, loopback)")
        ax1.set_title("Throughput")
        ax2.bar(labels, [med(True, "cpu_per_gib"), med(False, "cpu_per_gib")],
                color=["#2a9d8f", "#e76f51"])
        ax2.set_ylabel("broker CPU seconds per GiB")
        ax2.set_title("Broker CPU")
        fig.suptitle("Fetch served by Bazaar Log: zero-copy vs copying")

    return Report(columns=["mode", "GiB served", "seconds", "GB/s", "broker CPU s/GiB"],
                  rows=rows, verdict=verdict, summary=summary,
                  notes=["median of alternating rounds; the log sits in the page cache, so "
                         "this measures copies and syscalls, not the disk",
                         "consumers fetch with raw Kafka Fetch v4 requests and drop the bytes"],
                  plot=plot)


EXPERIMENT = Experiment(
    name="zero-copy",
    title="Zero copy: sendfile vs read + write for Fetch",
    explainer="Why is Kafka fast?",
    claim="Serving consumers with sendfile (zero copy) instead of read + write cuts the time "
          "by about 65%.",
    run=run,
)
