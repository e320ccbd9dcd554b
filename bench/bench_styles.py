"""The API styles side by side, in one run (issue 14's speed bullets):

1. **A GraphQL list of 10,000 products x 4 fields** through the shop's ``Product`` type:
   strawberry's ordinary execution vs ours (``bazaar.api.graph.fastlists``). Target: ours
   < 0.5 s on one core (strawberry alone: seconds, strawberry-graphql #3544).
2. **Order history payload**: the bytes of ``GET /orders?limit=20`` (REST JSON) vs
   ``ListOrders(limit=20)`` (protobuf) from the same running shop, for the same 20 orders.
   Target: protobuf <= 1/3 of the JSON.
3. **GetProduct over gRPC vs GET /products/1 over REST**: sequential calls on one connection
   each, from one client process to one ``bazaar up`` (the same use case, the same read cache).

Prints each measurement and the ratios.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def graphql_list(quick: bool) -> None:
    import strawberry

    from bazaar.api.graph import types as t
    from bazaar.api.graph.fastlists import FastListExecution
    from bazaar.api.graph.types import Product
    from bazaar.shop.services import ProductView

    items = [ProductView(i, f"SKU-{i:05d}", f"Product {i}", 100 + i, i % 50)
             for i in range(1, 10_001)]

    def products() -> list[Product]:
        return items  # type: ignore[return-value]  # views, read by attribute

    # strawberry resolves annotations in the module of the type and of the resolver; this
    # file is loaded by path (not in sys.modules), so both say they live beside Product.
    products.__module__ = t.__name__
    query_type = type("Query", (), {"__module__": t.__name__,
                                    "products": strawberry.field(resolver=products)})
    Query = strawberry.type(query_type)

    plain = strawberry.Schema(query=Query)
    ours = strawberry.Schema(query=Query, execution_context_class=FastListExecution)
    query = "{ products { id name priceCents stock } }"

    async def best(schema: strawberry.Schema, runs: int) -> tuple[float, Any]:
        times, data = [], None
        for _ in range(runs):
            started = time.perf_counter()
            result = await schema.execute(query)
            times.append(time.perf_counter() - started)
            assert not result.errors, result.errors
            data = result.data
        return min(times), data

    runs = 3 if quick else 7
    slow, a = asyncio.run(best(plain, runs))
    fast, b = asyncio.run(best(ours, runs))
    assert a == b and len(b["products"]) == 10_000
    verdict = "met" if fast < 0.5 else "NOT met"
    print(f"GraphQL list of 10,000 products x 4 fields (best of {runs}): strawberry "
          f"{slow:.3f} s, bazaar fast path {fast:.3f} s ({slow / fast:.1f}x faster); "
          f"target < 0.5 s: {verdict}")


def _rest_vs_grpc(quick: bool) -> None:
    import grpc
    import httpx

    from bazaar import localservers
    from bazaar.api.rpc.gen import shop_pb2 as pb
    from bazaar.api.rpc.gen import shop_pb2_grpc

    grpc_port = localservers.free_port()
    env = {"BAZAAR_GRPC_PORT": str(grpc_port), "BAZAAR_RATE_LIMIT_PER_S": "1000000",
           "BAZAAR_RATE_LIMIT_BURST": "1000000", "BAZAAR_LOG_LEVEL": "warning"}
    with tempfile.TemporaryDirectory() as tmp, \
            localservers.bazaar_up(Path(tmp) / "data", "--no-services", env=env) as shop:
        password = (Path(tmp) / "data" / "demo-password").read_text().strip()
        token = httpx.post(f"{shop.url}/auth/token", json={"username": "demo",
                                                           "password": password},
                           timeout=60).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        meta = (("authorization", f"Bearer {token}"),)
        http = httpx.Client(base_url=shop.url, headers=auth, timeout=60)
        for pid in range(1, 9):  # the demo admin: enough stock for the orders below
            http.post(f"/products/{pid}/restock", json={"quantity": 1000}).raise_for_status()
        for i in range(20):
            http.post("/orders", json={"lines": [{"product_id": 1 + i % 8, "quantity": 1},
                                                 {"product_id": 1 + (i + 3) % 8,
                                                  "quantity": 1}]}).raise_for_status()
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = shop_pb2_grpc.ShopStub(channel)  # type: ignore[no-untyped-call]
            rest_body = http.get("/orders?limit=20").content
            proto = stub.ListOrders(pb.ListOrdersRequest(limit=20), metadata=meta,
                                    timeout=60).SerializeToString()
            ratio = len(proto) / len(rest_body)
            print(f"order history, 20 orders x 2 lines: REST JSON {len(rest_body):,} B, "
                  f"protobuf {len(proto):,} B ({ratio:.2f} of the JSON); target <= 0.33: "
                  f"{'met' if ratio <= 1 / 3 else 'NOT met'}")

            n = 300 if quick else 3000

            def timed(fn: Any) -> list[float]:
                for _ in range(50):
                    fn()
                out = []
                for _ in range(n):
                    started = time.perf_counter()
                    fn()
                    out.append((time.perf_counter() - started) * 1e6)
                return out

            rest = timed(lambda: http.get("/products/1").raise_for_status())
            rpc = timed(lambda: stub.GetProduct(pb.GetProductRequest(id=1), metadata=meta,
                                                timeout=60))
        http.close()
    for name, values in (("REST GET /products/1", rest), ("gRPC GetProduct", rpc)):
        print(f"{name}: {n} sequential calls, p50 {statistics.median(values):.0f} µs, "
              f"mean {statistics.fmean(values):.0f} µs, {n / (sum(values) / 1e6):,.0f} calls/s")
    print(f"gRPC / REST p50 latency: {statistics.median(rpc) / statistics.median(rest):.2f}")


def main(quick: bool) -> None:
    graphql_list(quick)
    _rest_vs_grpc(quick)
