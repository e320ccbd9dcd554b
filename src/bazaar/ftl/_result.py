"""What a timed run reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class RunResult:
    """One workload on one device: throughput, latency percentiles, and the FTL's counters."""

    device: str
    workload: str
    requests: int
    queue_depth: int
    bytes_moved: int
    elapsed_s: float
    latency_us_p50: float
    latency_us_p99: float
    latency_us_p999: float
    latency_us_max: float
    write_amplification: float = 1.0
    gc_writes: int = 0
    erases: int = 0
    map_misses: int = 0              # mapping-table pages read from flash (DFTL-style cache)

    @property
    def throughput_mb_s(self) -> float:
        return self.bytes_moved / self.elapsed_s / 1e6 if self.elapsed_s > 0 else 0.0

    @property
    def iops(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0


def summarize(device: str, workload: str, queue_depth: int, bytes_moved: int, start_us: float,
              end_us: float, latencies_us: npt.NDArray[np.float64], *,
              write_amplification: float = 1.0, gc_writes: int = 0,
              erases: int = 0, map_misses: int = 0) -> RunResult:
    lat = latencies_us if latencies_us.size else np.zeros(1)
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
    return RunResult(device, workload, int(latencies_us.size), queue_depth, bytes_moved,
                     max(0.0, end_us - start_us) / 1e6, float(p50), float(p99), float(p999),
                     float(lat.max()), write_amplification, gc_writes, erases, map_misses)
