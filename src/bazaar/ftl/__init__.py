"""Bazaar FTL: an SSD flash-translation-layer simulator (why is an SSD fast?).

A page-mapped FTL (logical → physical map, out-of-place writes, greedy / cost-benefit / FIFO
garbage collection, over-provisioning, dynamic and static wear levelling, TRIM) over channels x
dies x planes x blocks x pages, in numpy so a million-page device reaches steady state in
seconds; a timing model (NAND read / program / erase, channel and host transfers, a write
buffer in the controller's RAM) and a one-head HDD to compare it with; workloads and block-trace
replay (blkparse, MSR Cambridge / SNIA CSV); and the published closed forms for write
amplification it is checked against.
"""

from bazaar.ftl._closed_form import (
    lambert_w0,
    wa_greedy,
    wa_greedy_hot_cold,
    wa_lrw,
    wa_lrw_hot_cold,
)
from bazaar.ftl._config import (
    DEVICES_DIR,
    DeviceConfig,
    FtlOptions,
    GcPolicy,
    Geometry,
    HddConfig,
    Timing,
    WearLeveling,
    load_config,
    shipped_devices,
)
from bazaar.ftl._engine import (
    ERASE,
    GC_PROGRAM,
    GC_READ,
    HOST_PROGRAM,
    HOST_READ,
    FtlStats,
    PageMappedFtl,
)
from bazaar.ftl._errors import (
    AddressError,
    FtlConfigError,
    FtlError,
    OutOfSpaceError,
    TraceError,
)
from bazaar.ftl._hdd import HddModel
from bazaar.ftl._reference import ReferenceFtl
from bazaar.ftl._result import RunResult
from bazaar.ftl._simulate import SteadyState, precondition, replay, steady_state
from bazaar.ftl._timing import SsdModel
from bazaar.ftl._traces import SAMPLES_DIR, load_trace
from bazaar.ftl._workloads import (
    READ,
    TRIM,
    WRITE,
    Workload,
    bursty,
    hot_cold,
    sequential,
    uniform_random,
)

__all__ = [
    "DEVICES_DIR",
    "ERASE",
    "GC_PROGRAM",
    "GC_READ",
    "HOST_PROGRAM",
    "HOST_READ",
    "READ",
    "SAMPLES_DIR",
    "TRIM",
    "WRITE",
    "AddressError",
    "DeviceConfig",
    "FtlConfigError",
    "FtlError",
    "FtlOptions",
    "FtlStats",
    "GcPolicy",
    "Geometry",
    "HddConfig",
    "HddModel",
    "OutOfSpaceError",
    "PageMappedFtl",
    "ReferenceFtl",
    "RunResult",
    "SsdModel",
    "SteadyState",
    "Timing",
    "TraceError",
    "WearLeveling",
    "Workload",
    "bursty",
    "hot_cold",
    "lambert_w0",
    "load_config",
    "load_trace",
    "precondition",
    "replay",
    "sequential",
    "shipped_devices",
    "steady_state",
    "uniform_random",
    "wa_greedy",
    "wa_greedy_hot_cold",
    "wa_lrw",
    "wa_lrw_hot_cold",
]
