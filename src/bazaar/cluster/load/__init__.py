"""``bazaar load``: an open-loop generator (fixed arrival rate, latency from the intended send
time, HdrHistogram percentiles) with a mixed shop workload."""

from bazaar.cluster.load.generator import LoadResult, login, run, run_sync
from bazaar.cluster.load.http1 import Connection, HttpError
from bazaar.cluster.load.workload import GET_ONLY, MIX, Request, Workload

__all__ = [
    "GET_ONLY",
    "MIX",
    "Connection",
    "HttpError",
    "LoadResult",
    "Request",
    "Workload",
    "login",
    "run",
    "run_sync",
]
