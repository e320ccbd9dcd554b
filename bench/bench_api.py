"""``GET /products/{id}`` requests/s vs a bare Starlette endpoint, same server, same run.

Each app runs alone in its own process under uvicorn (one worker, uvloop + httptools);
``wrk`` drives it from another process. Three servers, one after the other:

* ``bare``: a Starlette route that returns a constant JSON product — the ceiling;
* ``bazaar``: the real app from ``bootstrap`` as ``bazaar up`` runs it (a Bearer token,
  reads through ``bazaar.cache`` with its Bloom guard of ids), as the demo user;
* ``bazaar-noguard``: the same with ``cache_bloom_guard=False`` (cache-aside only);
* ``bazaar-noauth``: the shop API and cache alone — the identity layer replaced by one that
  sets a fixed principal — to show what authentication costs on the hot path;
* ``bazaar-uncached``: the same app with the pass-through reader (a SQLite query in a
  worker thread per request).

Prints requests/s for each and the ratios to ``bare``. The target: bazaar ≥ 60 % of bare.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


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
        from bazaar.config import Settings
        from bazaar.shop.services import DirectReader, NoInvalidation

        # One user drives all the load: lift the per-principal rate limit.
        runtime = bootstrap.build(Settings(data_dir=Path(data_dir),
                                           cache_bloom_guard=kind != "bazaar-noguard",
                                           rate_limit_per_s=1e9, rate_limit_burst=1e9))
        if kind == "bazaar-uncached":
            runtime.shop.catalog_reader = DirectReader(runtime.shop.queries)
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
    """Whether the server answers the benchmarked request with 200 (with its auth header)."""
    import httpx

    name, _, value = header.partition(": ")
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/products/1", headers={name: value})
    except httpx.TransportError:
        return False
    return r.status_code == 200


def _wrk(port: int, seconds: int, header: str) -> float:
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-H", header,
                          f"http://127.0.0.1:{port}/products/1"],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(match.group(1))


def measure(kind: str, data_dir: str, seconds: int, header: str) -> float:
    from bazaar.processes import Child, free_port

    port = free_port()
    # Child fails fast (with the log's tail) if the server exits before it answers.
    with Child([sys.executable, __file__, "--serve", kind, data_dir, str(port)],
               name=f"bench server ({kind})", log=Path(data_dir) / f"server-{kind}.log",
               ready=lambda: _serves(port, header), ready_timeout=60.0, grace=30.0):
        _wrk(port, 1, header)  # warm up
        return _wrk(port, seconds, header)


def main(quick: bool) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    from bazaar import bootstrap
    from bazaar.config import Settings

    seconds = 5 if quick else 15
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-api-") as data:
        runtime = bootstrap.build(Settings(data_dir=Path(data)))
        bootstrap.migrate_database(runtime)
        demo = bootstrap.seed(runtime).demo_password
        assert demo is not None
        tokens = asyncio.run(bootstrap.build_auth(runtime).server.login("demo", demo))
        header = f"Authorization: Bearer {tokens.access_token}"
        runtime.close()
        results: dict[str, list[float]] = {
            "bare": [], "bazaar": [], "bazaar-noguard": [], "bazaar-noauth": [],
            "bazaar-uncached": []}
        for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
            for kind in results:
                results[kind].append(measure(kind, data, seconds, header))
    best = {kind: max(values) for kind, values in results.items()}
    print(f"GET /products/1, wrk -t2 -c64 -d{seconds}s, best of {rounds}, one uvicorn worker")
    for kind, rps in best.items():
        print(f"  {kind:16} {rps:10,.0f} req/s   {rps / best['bare']:6.1%} of bare")
    for kind in ("bazaar", "bazaar-noguard", "bazaar-noauth"):
        ratio = best[kind] / best["bare"]
        print(f"{kind}/bare = {ratio:.2f} ({'meets' if ratio >= 0.6 else 'MISSES'} the 0.60 "
              "target)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv)
