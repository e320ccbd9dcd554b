"""Cache-miss attack on the real shop API (uvicorn, `bazaar up`) over real Redis and PostgreSQL.

Each phase restarts the API with one defence setting (``BAZAAR_CACHE_NULLS``,
``BAZAAR_CACHE_BLOOM_GUARD``) on an emptied Redis, warms a hot set of real products, then
runs legitimate clients (Python, measuring latency) beside an attacker (``wrk`` with a Lua
script) requesting ids that do not exist, as fast as it can. The API's own counters
(``GET /cache/stats``) give the database queries it issued during the window; PostgreSQL's
``pg_stat_user_tables`` over the whole phase is the cross-check.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import statistics
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import redis

from bazaar import localservers
from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BAD_LOW, BAD_HIGH = 10_000_000, 2_000_000_000  # ids that cannot exist (int4 range)
HOT = 200
PACED = 400.0
CONNECTIONS = 32


@dataclass(frozen=True)
class Phase:
    name: str
    nulls: bool
    guard: bool
    attacker: str  # "none" | "random" | "replay"
    #: Requests/s the attacker aims at (paced per connection); None: as fast as it can.
    rate: float | None = None


PHASES = (
    Phase("legit only (both defences)", True, True, "none"),
    Phase("no defence", False, False, "random"),
    Phase("null caching", True, False, "random"),
    Phase("Bloom guard", False, True, "random"),
    Phase("both", True, True, "random"),
    Phase("no defence, replayed ids", False, False, "replay"),
    Phase("null caching, replayed ids", True, False, "replay"),
    # The same offered attack load with and without the guard: the flood above sends more
    # when its requests get cheaper, which hides what the guard saves legitimate users.
    Phase(f"no defence, paced {PACED:.0f}/s", False, False, "random", PACED),
    Phase(f"Bloom guard, paced {PACED:.0f}/s", False, True, "random", PACED),
)

_LUA = """
local headers = {["Authorization"] = "%(auth)s"}
math.randomseed(os.time())
request = function()
  local id
  if %(replay)s then id = %(low)d + math.random(1, 1000)
  else id = math.random(%(low)d, %(high)d) end
  return wrk.format("GET", "/products/" .. id, headers)
end
"""
_PACE = """
delay = function() return %(delay_ms).1f end
"""


def _prepare_database(ctx: RunContext, url: str, dsn: str, products: int) -> int:
    from bazaar import bootstrap
    from bazaar.config import Settings

    runtime = bootstrap.build(Settings(data_dir=ctx.work_dir, database_url=url))
    try:
        bootstrap.migrate_database(runtime)
        seeded = bootstrap.seed(runtime)
        admin = seeded.demo_user_id
        assert seeded.demo_password is not None
        _PASSWORDS[admin] = seeded.demo_password
    finally:
        runtime.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO products (sku, name, price_cents, stock, version) "
            "SELECT 'LAB-' || g, 'Lab product ' || g, 100 + g %% 5000, 100, 1 "
            "FROM generate_series(1, %s) AS g", (products,))
        conn.execute("ANALYZE products")
    return admin


#: user id → password, to log in to each freshly started API (the demo admin only).
_PASSWORDS: dict[int, str] = {}


def _identity(base: str, user: int) -> dict[str, str]:
    """A Bearer header for ``user``, from ``POST /auth/token`` on this API."""
    response = httpx.post(f"{base}/auth/token",
                          json={"username": "demo", "password": _PASSWORDS[user]})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _product_scans(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) "
                           "FROM pg_stat_user_tables WHERE relname = 'products'").fetchone()
    return int(row[0]) if row else 0


def _api(ctx: RunContext, phase: Phase, db_url: str, cache_url: str
         ) -> AbstractContextManager[localservers.ShopProcess]:
    """``bazaar up --no-services`` in a subprocess with one defence setting."""
    env = {"BAZAAR_SEED_DEMO": "false", "BAZAAR_CACHE_URL": cache_url,
           "BAZAAR_LOG_LEVEL": "warning",
           "BAZAAR_CACHE_NULLS": str(phase.nulls).lower(),
           "BAZAAR_CACHE_BLOOM_GUARD": str(phase.guard).lower(),
           # The lab measures the cache defences: lift auth's per-user rate limit.
           "BAZAAR_RATE_LIMIT_PER_S": "1e9", "BAZAAR_RATE_LIMIT_BURST": "1e9"}
    return localservers.bazaar_up(ctx.work_dir, "--database-url", db_url, "--no-services",
                                  env=env, timeout=60, output=ctx.work_dir / "api.log")


async def _legit(base: str, user: int, hot: list[int], seconds: float,
                 workers: int) -> list[float]:
    latencies: list[float] = []
    headers = _identity(base, user)
    async with httpx.AsyncClient(base_url=base, headers=headers,
                                 limits=httpx.Limits(max_connections=workers)) as client:
        # The window starts once the client exists, and every worker reads at least once,
        # so a loaded machine gives fewer samples, never none.
        deadline = time.monotonic() + seconds

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while True:
                started = time.perf_counter()
                response = await client.get(f"/products/{rng.choice(hot)}")
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"legitimate read failed: {response.status_code}")
                if time.monotonic() >= deadline:
                    return
        await asyncio.gather(*(worker(i) for i in range(workers)))
    return latencies


async def _attack(ctx: RunContext, base: str, user: int, replay: bool,
                  seconds: float, rate: float | None) -> int:
    script = ctx.work_dir / "attack.lua"
    auth = _identity(base, user)["Authorization"]
    lua = _LUA % {"auth": auth, "replay": "true" if replay else "false",
                  "low": BAD_LOW, "high": BAD_HIGH}
    if rate is not None:  # each connection waits between requests: ~rate in total
        lua += _PACE % {"delay_ms": CONNECTIONS / rate * 1000}
    script.write_text(lua)
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "-s", str(script), base,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    found = re.search(r"(\d+) requests in", text)
    if not found:
        raise RuntimeError(f"wrk said: {text[-500:]}")
    return int(found.group(1))


def _stats(base: str, user: int) -> dict[str, int]:
    response = httpx.get(f"{base}/cache/stats", headers=_identity(base, user))
    response.raise_for_status()
    products: dict[str, int] = response.json()["products"]
    return products


def _run_phase(ctx: RunContext, phase: Phase, pg: localservers.LocalServer, cache_url: str,
               admin: int, hot: list[int], seconds: float) -> dict[str, Any]:
    redis.Redis.from_url(cache_url).flushall()
    scans_before = _product_scans(pg.extra["dsn"])
    with _api(ctx, phase, pg.url, cache_url) as api:
        with httpx.Client(base_url=api.url, headers=_identity(api.url, admin)) as c:
            for product_id in hot:  # warm the hot set: legitimate reads are then cache hits
                c.get(f"/products/{product_id}").raise_for_status()
        before = _stats(api.url, admin)

        async def window() -> tuple[list[float], int]:
            legit = _legit(api.url, admin, hot, seconds, workers=8)
            if phase.attacker == "none":
                return await legit, 0
            lat, attacks = await asyncio.gather(
                legit, _attack(ctx, api.url, admin, phase.attacker == "replay", seconds,
                               phase.rate))
            return lat, attacks

        started = time.perf_counter()
        latencies, attacks = asyncio.run(window())
        elapsed = time.perf_counter() - started
        after = _stats(api.url, admin)
    db_queries = after["database_queries"] - before["database_queries"]
    latencies.sort()
    return {
        "phase": phase.name, "attacker": phase.attacker, "seconds": elapsed,
        "attack_requests": attacks, "attack_rps": attacks / elapsed,
        "db_queries": db_queries, "db_qps": db_queries / elapsed,
        "reached_db_pct": 100.0 * db_queries / attacks if attacks else 0.0,
        "legit_requests": len(latencies), "legit_rps": len(latencies) / elapsed,
        "legit_p50_ms": statistics.median(latencies) * 1e3,
        "legit_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3,
        "bloom_rejections": after["bloom_rejections"] - before["bloom_rejections"],
        "null_hits": after["null_hits"] - before["null_hits"],
        "api_db_queries_whole_phase": after["database_queries"],
        "pg_product_scans_whole_phase": _product_scans(pg.extra["dsn"]) - scans_before,
    }


def run(ctx: RunContext) -> Report:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk not found: apt-get install wrk")
    seconds = float(ctx.params.get("seconds", 4.0 if ctx.quick else 15.0))
    products = int(ctx.params.get("products", 5_000 if ctx.quick else 50_000))
    wanted = ctx.params.get("phases")
    phases = [p for p in PHASES if wanted is None or p.name in wanted]
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        with ctx.step("start PostgreSQL and Redis, seed the catalogue", total=1) as step:
            pg = stack.enter_context(localservers.postgres())
            rs = stack.enter_context(localservers.redis())
            admin = _prepare_database(ctx, pg.url, pg.extra["dsn"], products)
            with psycopg.connect(pg.extra["dsn"]) as conn:
                ids = [int(r[0]) for r in conn.execute("SELECT id FROM products")]
            hot = random.Random(7).sample(ids, HOT)
            step.advance()
        with ctx.step("phases (API restarted per defence)", total=len(phases)) as step:
            for phase in phases:
                results.append(_run_phase(ctx, phase, pg, rs.url, admin, hot, seconds))
                step.advance()
    return _report(results, products, seconds)


def _report(results: list[dict[str, Any]], products: int, seconds: float) -> Report:
    by = {r["phase"]: r for r in results}
    none, bloom = by["no defence"], by["Bloom guard"]
    cut = 100.0 * (1 - bloom["db_queries"] / max(1, none["db_queries"]))
    held = cut > 99.0 and all(by[n]["reached_db_pct"] < 1.0 for n in by if "Bloom" in n
                              or n == "both")
    columns = ["phase", "attack req/s", "DB queries/s", "attack reqs reaching DB %",
               "legit p50 ms", "legit p99 ms", "legit req/s", "bloom rejections", "null hits"]
    rows = [[r["phase"], r["attack_rps"], r["db_qps"], r["reached_db_pct"], r["legit_p50_ms"],
             r["legit_p99_ms"], r["legit_rps"], r["bloom_rejections"], r["null_hits"]]
            for r in results]
    verdict = (f"{'Held' if held else 'Did not hold'}: the Bloom guard cut the database "
               f"queries caused by random non-existent ids by {cut:.2f}% "
               f"({none['db_queries']:,} -> {bloom['db_queries']:,}).")
    if "null caching" in by and "null caching, replayed ids" in by:
        verdict += (f" Null caching alone reached the database for "
                    f"{by['null caching']['reached_db_pct']:.1f}% of random ids but "
                    f"{by['null caching, replayed ids']['reached_db_pct']:.1f}% of replayed ones.")
    paced = [r for r in results if "paced" in r["phase"]]
    if len(paced) == 2:
        verdict += (f" At the same paced attack, legitimate p50/p99 went from "
                    f"{paced[0]['legit_p50_ms']:.1f}/{paced[0]['legit_p99_ms']:.0f} ms without a "
                    f"defence to {paced[1]['legit_p50_ms']:.1f}/{paced[1]['legit_p99_ms']:.0f} "
                    "ms with the guard.")

    def plot(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        names = [r["phase"] for r in results]
        left.barh(names, [max(r["db_qps"], 0.1) for r in results], color="tab:red")
        left.set_xscale("log")
        left.set_xlabel("database queries/s (log; 0 drawn at 0.1)")
        left.set_title("What reaches PostgreSQL")
        left.invert_yaxis()
        y = range(len(results))
        right.barh([i - 0.2 for i in y], [r["legit_p50_ms"] for r in results], 0.4, label="p50")
        right.barh([i + 0.2 for i in y], [r["legit_p99_ms"] for r in results], 0.4, label="p99")
        right.set_yticks(list(y), ["" for _ in y])
        right.invert_yaxis()
        right.set_xlabel("legitimate request latency, ms")
        right.set_title("What legitimate users feel")
        right.legend()

    return Report(columns=columns, rows=rows, verdict=verdict, plot=plot,
                  summary={"phases": results, "products": products, "window_s": seconds,
                           "bloom_cut_pct": cut},
                  notes=[f"{products:,} products in PostgreSQL; legitimate traffic: 8 clients "
                         f"over a hot set of {HOT} products (warmed first); attacker: wrk, 1 "
                         f"thread, {CONNECTIONS} connections, {seconds:.0f} s per phase, as fast "
                         f"as it can, or paced at ~{PACED:.0f} requests/s in total.",
                         "Random attacker ids are uniform in [1e7, 2e9): never repeated, never "
                         "existing. Replayed ids: 1,000 non-existent ids over and over.",
                         "Reaching-DB % can pass 100 slightly: requests in flight when wrk "
                         "stops its count are still served.",
                         "DB queries are the API's loader calls (each one PK SELECT through "
                         "SQLAlchemy's pool of 10+20 connections); pg_stat_user_tables per phase "
                         "is in the JSON as a cross-check."])


EXPERIMENT = Experiment(
    name="cache-miss-attack",
    title="Cache-miss attack on the shop API: null caching and a Bloom guard",
    explainer="Cache miss attack",
    claim=("Requests for keys that exist neither in the cache nor the database all reach the "
           "database; caching nulls with a short TTL and a Bloom filter of existing keys stop "
           "them, the Bloom filter before they touch the cache or the database."),
    run=run,
)
