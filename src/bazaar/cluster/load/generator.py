"""An open-loop load generator, as wrk2 measures: requests are *scheduled* at a fixed
arrival rate (request i at ``start + i / rate``) and each latency is counted from its
intended send time, not from when a free connection got round to sending it — so a server
that stalls is charged for every request that queued behind the stall (no coordinated
omission). Latencies go into an HdrHistogram (1 µs to 60 s, 3 significant digits)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from hdrh.histogram import HdrHistogram

from bazaar.cluster.load.http1 import Connection, HttpError
from bazaar.cluster.load.workload import Workload

_MAX_US = 60_000_000


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, 3)


@dataclass
class LoadResult:
    """What a run measured; latencies in milliseconds from the intended send time."""

    url: str
    rate: float
    duration_s: float
    connections: int
    scheduled: int
    completed: int
    #: transport failures and 5xx answers
    errors: int
    #: 4xx answers (an order for a product sold out is the shop saying no, not failing)
    refused: int
    achieved_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    #: per operation: count, p50_ms, p99_ms
    ops: dict[str, dict[str, float]] = field(default_factory=dict)
    #: requests sent more than 10 ms after their time (every connection was busy)
    late: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def error_rate(self) -> float:
        return self.errors / self.scheduled if self.scheduled else 0.0


def login(base_url: str, timeout_s: float = 30.0) -> tuple[str, list[int]]:
    """A new user's Bearer token and the catalogue's product ids (first 100)."""
    name = f"load-{uuid.uuid4().hex[:12]}"
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        made = client.post("/users", json={"username": name, "password": "load test pw"})
        if made.status_code != 201:
            raise RuntimeError(f"registering the load user failed: {made.status_code} "
                               f"{made.text[:300]}")
        got = client.post("/auth/token", data={"username": name, "password": "load test pw"})
        if got.status_code != 200:
            raise RuntimeError(f"logging in failed: {got.status_code} {got.text[:300]}")
        token = str(got.json()["access_token"])
        page = client.get("/products", params={"limit": 100},
                          headers={"Authorization": f"Bearer {token}"})
        page.raise_for_status()
        ids = [int(p["id"]) for p in page.json()["items"]]
    return token, ids


async def run(base_url: str, token: str, workload: Workload, *, rate: float,
              duration_s: float, connections: int = 64, timeout_s: float = 10.0
              ) -> LoadResult:
    """Send ``rate`` requests a second for ``duration_s`` seconds over ``connections``
    keep-alive connections."""
    if rate <= 0 or duration_s <= 0 or connections < 1:
        raise ValueError("rate, duration and connections must be positive")
    total = max(1, int(rate * duration_s))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    overall = _histogram()
    per_op: dict[str, HdrHistogram] = {}
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    counters = {"next": 0, "late": 0, "errors": 0, "refused": 0, "done": 0}
    requests = [workload.next() for _ in range(total)]
    start = time.perf_counter() + 0.05

    async def worker() -> None:
        conn = Connection(base_url, headers, timeout_s)
        try:
            while True:
                i = counters["next"]
                if i >= total:
                    return
                counters["next"] = i + 1
                intended = start + i / rate
                delay = intended - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.01:
                    counters["late"] += 1
                req = requests[i]
                try:
                    status, _ = await conn.request(req.method, req.target, req.body)
                except HttpError as exc:
                    status = 0
                    if len(samples) < 5:
                        samples.append(str(exc))
                latency_us = int((time.perf_counter() - intended) * 1e6)
                overall.record_value(min(max(latency_us, 1), _MAX_US))
                hist = per_op.get(req.op)
                if hist is None:
                    hist = per_op[req.op] = _histogram()
                hist.record_value(min(max(latency_us, 1), _MAX_US))
                statuses[str(status)] += 1
                counters["done"] += 1
                if status == 0 or status >= 500:
                    counters["errors"] += 1
                elif status >= 400:
                    counters["refused"] += 1
        finally:
            conn.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(connections, total))))
    elapsed = time.perf_counter() - began

    def ms(h: HdrHistogram, q: float) -> float:
        return round(float(h.get_value_at_percentile(q)) / 1000, 3)

    return LoadResult(
        base_url, rate, duration_s, connections, total, counters["done"], counters["errors"],
        counters["refused"], round(counters["done"] / elapsed, 1), ms(overall, 50),
        ms(overall, 90), ms(overall, 99), ms(overall, 99.9),
        round(overall.get_max_value() / 1000, 3), dict(statuses),
        {op: {"count": h.get_total_count(), "p50_ms": ms(h, 50), "p99_ms": ms(h, 99)}
         for op, h in sorted(per_op.items())}, counters["late"], samples)


def run_sync(base_url: str, *, rate: float, duration_s: float, connections: int = 64,
             mix: str = "shop", seed: int = 1, timeout_s: float = 10.0) -> LoadResult:
    """Log in, then :func:`run` on a fresh event loop (uvloop when installed)."""
    from bazaar.cluster.load.workload import GET_ONLY, MIX

    if mix not in ("shop", "get"):
        raise ValueError(f"unknown mix {mix!r}: shop or get")
    token, ids = login(base_url, timeout_s=max(timeout_s, 30))
    workload = Workload(ids, MIX if mix == "shop" else GET_ONLY, seed)
    runner: Any
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result: LoadResult = runner(run(base_url, token, workload, rate=rate,
                                    duration_s=duration_s, connections=connections,
                                    timeout_s=timeout_s))
    return result
