"""The shop's ``GET /products/{id}`` and ``POST /orders`` requests/s vs a bare Starlette endpoint,
same server, same run, on SQLite and on PostgreSQL.

Each app runs alone in its own process under uvicorn (one worker, uvloop + httptools);
``wrk`` drives it from another process. The servers, one after the other:

* ``bare``: a Starlette route that returns a constant JSON product — the ceiling;
* ``bazaar``: the real app from ``bootstrap`` as ``bazaar up`` runs it (a Bearer token,
  reads through ``bazaar.cache`` with its Bloom guard of ids), as the demo user;
* ``bazaar-noguard``: the same with ``cache_bloom_guard=False`` (cache-aside only);
* ``bazaar-noauth``: the shop API and cache alone — the identity layer replaced by one that
  sets a fixed principal — to show what authentication costs on the hot path;
* ``uncached``: the same app with the pass-through reader: every request is a primary-key
  query, on the event loop (``bazaar.storage.point_reader``);
* ``uncached-thread``: the same with the loop path off — the query in a worker thread through
  a pooled SQLAlchemy connection, as every uncached read went before (the "before" figure);
* ``orders``: ``POST /orders`` (one line, quantity 1) with the same Bearer token, every
  request a committed order (the stock is set high enough that none is refused).

The uncached, uncached-thread and orders servers run once on SQLite (the data dir's file,
``synchronous=FULL``) and once on a PostgreSQL server the bench starts
(``bazaar.localservers``, fsync on). Prints requests/s for each and the ratios to ``bare``.
Targets: the cached read ≥ 60 % of bare, the uncached read ≥ 35 % on both databases.
Also reports the server's CPU time per request (utime + stime of its process over the run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

#: wrk's script for ``POST /orders``: one line of the first product.
_ORDER_LUA = """
wrk.method = "POST"
wrk.body = '{"lines":[{"product_id":1,"quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
"""
_URL_FILE = "database-url"


def _settings(data_dir: str, **extra: object) -> object:
    from bazaar.config import Settings

    url_file = Path(data_dir) / _URL_FILE
    url = url_file.read_text().strip() if url_file.exists() else None
    # One user drives all the load: lift the per-principal rate limit.
    return Settings(data_dir=Path(data_dir), database_url=url, rate_limit_per_s=1e9,
                    rate_limit_burst=1e9, **extra)  # type: ignore[arg-type]


def _serve(kind: str, data_dir: str, port: int) -> None:
    import uvicorn

    if kind == "bare":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        body = (b'{"id":1,"sku":"MUG-001","name":"Stoneware mug","price_cents":1200,'
                b'"stock":40}')

        async def product(request: Request) -> Response:
            return Response(body, media_type="application/json")

        app = Starlette(routes=[Route("/products/{product_id:int}", product)])
    else:
        from bazaar import bootstrap
        from bazaar.shop.adapters import SqlCatalogQueries
        from bazaar.shop.services import DirectReader, NoInvalidation

        runtime = bootstrap.build(_settings(data_dir,  # type: ignore[arg-type]
                                            cache_bloom_guard=kind != "bazaar-noguard"))
        if kind in ("uncached", "uncached-thread", "orders"):
            queries = SqlCatalogQueries(runtime.engine, loop_reads=kind != "uncached-thread")
            runtime.shop.queries = queries
            runtime.shop.catalog_reader = DirectReader(queries)
            runtime.shop.invalidation = NoInvalidation()
        app = bootstrap.build_app(runtime)
        if kind == "bazaar-noauth":
            app = _without_auth(runtime)
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="off")


def _without_auth(runtime: object) -> object:
    """The shop's app with an identity layer that always says "demo user, all scopes"."""
    from dataclasses import dataclass

    from bazaar import bootstrap
    from bazaar.api import create_app
    from bazaar.api.principal import SCOPE_KEY

    @dataclass(frozen=True)
    class Demo:
        id: str = "1"
        kind: str = "user"
        scopes: frozenset[str] = frozenset({"shop:read", "shop:write", "shop:admin"})

    demo = Demo()

    def identity(app: object) -> object:
        async def wrapped(scope: dict[str, object], receive: object, send: object) -> None:
            scope[SCOPE_KEY] = demo
            await app(scope, receive, send)  # type: ignore[operator]
        return wrapped

    shop = runtime.shop  # type: ignore[attr-defined]
    return create_app(shop, identity=identity,  # type: ignore[arg-type]
                      health=bootstrap.health_check(runtime.engine))  # type: ignore[attr-defined]


def _serves(port: int, header: str) -> bool:
    """Whether the server answers the benchmarked read with 200 (with its auth header)."""
    import httpx

    name, _, value = header.partition(": ")
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/products/1", headers={name: value})
    except httpx.TransportError:
        return False
    return r.status_code == 200


@dataclass(frozen=True)
class Run:
    rps: float
    cpu_us: float  # the server process's CPU time per request


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(port: int, seconds: int, header: str, path: str, script: Path | None) -> tuple[
        float, int]:
    extra = ["-s", str(script)] if script else []
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--timeout", "10s", "-H",
                          header, *extra, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not rate or not count:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(rate.group(1)), int(count.group(1))


def measure(kind: str, data_dir: str, seconds: int, header: str) -> Run:
    from bazaar.processes import Child, free_port

    port = free_port()
    script = None
    path = "/products/1"
    if kind == "orders":
        script = Path(data_dir) / "order.lua"
        script.write_text(_ORDER_LUA)
        path = "/orders"
    # Child fails fast (with the log's tail) if the server exits before it answers.
    with Child([sys.executable, __file__, "--serve", kind, data_dir, str(port)],
               name=f"bench server ({kind})", log=Path(data_dir) / f"server-{kind}.log",
               ready=lambda: _serves(port, header), ready_timeout=60.0, grace=30.0) as child:
        _wrk(port, 1, header, path, script)  # warm up
        before = _cpu_s(child.pid)
        rps, count = _wrk(port, seconds, header, path, script)
        return Run(rps, (_cpu_s(child.pid) - before) / count * 1e6)


def _prepare(data_dir: str) -> str:
    """Migrate and seed the data dir's database; the demo user's Bearer header. The first
    product's stock is raised so that no benchmarked order is refused."""
    from sqlalchemy import update

    from bazaar import bootstrap
    from bazaar.shop.adapters import schema

    runtime = bootstrap.build(_settings(data_dir))  # type: ignore[arg-type]
    try:
        bootstrap.migrate_database(runtime)
        demo = bootstrap.seed(runtime).demo_password
        assert demo is not None
        with runtime.engine.begin() as conn:
            conn.execute(update(schema.products).values(stock=2_000_000_000))
        tokens = asyncio.run(bootstrap.build_auth(runtime).server.login("demo", demo))
    finally:
        runtime.close()
    return f"Authorization: Bearer {tokens.access_token}"


#: (database, server kind) in the order they run; bare first.
_SQLITE_KINDS = ("bare", "bazaar", "bazaar-noguard", "bazaar-noauth", "uncached",
                 "uncached-thread", "orders")
_PG_KINDS = ("uncached", "uncached-thread", "orders")


def main(quick: bool) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    from bazaar import localservers

    seconds = 5 if quick else 15
    rounds = 1 if quick else 3
    with ExitStack() as stack:
        sqlite_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bazaar-bench-api-"))
        pg_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bazaar-bench-api-pg-"))
        headers = {"sqlite": _prepare(sqlite_dir)}
        dirs = {"sqlite": sqlite_dir, "postgresql": pg_dir}
        plan = [("sqlite", kind) for kind in _SQLITE_KINDS]
        try:
            pg = stack.enter_context(localservers.postgres(fsync=True))
        except localservers.ServerUnavailable as exc:
            print(f"PostgreSQL skipped: {exc}")
        else:
            (Path(pg_dir) / _URL_FILE).write_text(pg.url)
            headers["postgresql"] = _prepare(pg_dir)
            plan += [("postgresql", kind) for kind in _PG_KINDS]
        results: dict[tuple[str, str], list[Run]] = {key: [] for key in plan}
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
            for db, kind in plan:
                results[db, kind].append(measure(kind, dirs[db], seconds, headers[db]))
    best = {key: max(runs, key=lambda r: r.rps) for key, runs in results.items()}
    bare = best["sqlite", "bare"].rps
    print(f"wrk -t2 -c64 -d{seconds}s, best of {rounds}, one uvicorn worker; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  {'database':10} {'server':16} {'request':18} {'req/s':>9} {'of bare':>8} "
          f"{'CPU/req':>9}")
    for (db, kind), run in best.items():
        what = "POST /orders" if kind == "orders" else "GET /products/1"
        print(f"  {db if kind != 'bare' else '-':10} {kind:16} {what:18} {run.rps:9,.0f} "
              f"{run.rps / bare:8.1%} {run.cpu_us:7.0f}µs")
    verdicts = [("sqlite", "bazaar", 0.6)] + [(db, "uncached", 0.35) for db in dirs
                                               if (db, "uncached") in best]
    for db, kind, target in verdicts:
        ratio = best[db, kind].rps / bare
        print(f"{kind}/bare on {db} = {ratio:.2f} ({'meets' if ratio >= target else 'MISSES'} "
              f"the {target:.2f} target)")
    print(json.dumps({"bench": "api", "seconds": seconds, "rounds": rounds,
                      "results": [{"database": db, "server": kind, "rps": round(r.rps, 1),
                                   "of_bare": round(r.rps / bare, 3),
                                   "cpu_us_per_request": round(r.cpu_us, 1)}
                                  for (db, kind), r in best.items()]}))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv)
