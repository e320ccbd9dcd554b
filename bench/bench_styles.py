"""The API styles side by side, in one run (issue 14's speed bullets):

1. **A GraphQL list of 10,000 products x 4 fields** through the shop's ``Product`` type:
   strawberry's ordinary execution vs ours (``bazaar.api.graph.fastlists``). Target: ours
   < 0.5 s on one core (strawberry alone: seconds, strawberry-graphql #3544).
2. **Order history payload**: the bytes of ``GET /orders?limit=20`` (REST JSON) vs
   ``ListOrders(limit=20)`` (protobuf) from the same running shop, for the same 20 orders.
   Target: protobuf <= 1/3 of the JSON.
3. **The SOAP engine**: our lxml path vs spyne 2.14 (Python < 3.12 only: it does not import
   on 3.12+) for the same GetProduct, in-process — the measurement the choice rests on.
4. **GetProduct over gRPC vs GET /products/1 over REST**: sequential calls on one connection
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




def soap_engines(quick: bool) -> None:
    """The SOAP server engine, chosen by measurement: our lxml path (parse the envelope
    safely, read the operation's elements, write the response) against spyne 2.14's
    (WSGI, lxml validation) for the same GetProduct, in-process, no network."""
    import io

    from bazaar.api.soap import envelope
    from bazaar.api.soap.model import BY_NAME
    from bazaar.shop.services import ProductView

    body = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
            b'xmlns:tns="urn:bazaar:shop:v1"><soap:Body><tns:GetProduct><tns:id>1</tns:id>'
            b"</tns:GetProduct></soap:Body></soap:Envelope>")
    product = ProductView(1, "MUG-001", "Stoneware mug", 1200, 40)
    op = BY_NAME["GetProduct"]

    def ours() -> bytes:
        request = envelope.parse(body, "text/xml; charset=utf-8")
        args = envelope.read(request.body, op.inputs)
        assert args["id"] == 1
        return envelope.response(request.version, op.name, op.outputs, {"product": product})

    n = 1000 if quick else 5000

    def per_call(fn: Any) -> float:
        for _ in range(100):
            fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - started) / n * 1e6

    mine = per_call(ours)
    try:
        from spyne import Application, ComplexModel, Long, ServiceBase, Unicode, rpc
        from spyne.protocol.soap import Soap11
        from spyne.server.wsgi import WsgiApplication
    except ImportError as exc:  # spyne does not import on Python 3.12+
        print(f"SOAP engine: lxml path {mine:.0f} µs/call; spyne not measured ({exc})")
        return

    class Product(ComplexModel):  # type: ignore[misc]
        __namespace__ = "urn:bazaar:shop:v1"
        id = Long
        sku = Unicode
        name = Unicode
        priceCents = Long
        stock = Long

    class Shop(ServiceBase):  # type: ignore[misc]
        @rpc(Long, _returns=Product)  # type: ignore[untyped-decorator]
        def GetProduct(ctx: Any, id: int) -> Any:
            return Product(id=id, sku=product.sku, name=product.name,
                           priceCents=product.price_cents, stock=product.stock)

    wsgi = WsgiApplication(Application([Shop], tns="urn:bazaar:shop:v1",
                                       in_protocol=Soap11(validator="lxml"),
                                       out_protocol=Soap11()))

    def spyne_call() -> bytes:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "",
                   "CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": str(len(body)),
                   "wsgi.input": io.BytesIO(body), "SERVER_NAME": "x", "SERVER_PORT": "80",
                   "wsgi.url_scheme": "http", "HTTP_SOAPACTION": '"GetProduct"'}
        status: list[str] = []
        out = b"".join(wsgi(environ, lambda s, h: status.append(s)))
        assert status[0].startswith("200") and b"Stoneware mug" in out
        return out

    theirs = per_call(spyne_call)
    print(f"SOAP engine, GetProduct in-process ({n} calls): lxml path {mine:.0f} µs/call, "
          f"spyne 2.14 {theirs:.0f} µs/call ({theirs / mine:.1f}x ours)")


def main(quick: bool) -> None:
    graphql_list(quick)
    soap_engines(quick)
    _rest_vs_grpc(quick)
