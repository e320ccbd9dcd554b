"""One table of cases, run against all four styles with their own real clients — httpx for
REST and GraphQL, a GraphQL-over-WebSocket client (gql) for the subscription, grpcio's stub,
zeep — on the same running shop: the same results, the same error semantics, every style.

Each style's adapter turns the native answer into ``(data, code)``: the data normalised to
plain dicts, the error to the shared code (REST: the problem ``type``; GraphQL:
``extensions.code``; gRPC: ``ErrorInfo.reason`` in the status details; SOAP: the fault
detail's ``code``), and checks on the way that the native carrier is right (REST status,
gRPC status code, SOAP fault code)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
import requests
import zeep
from google.rpc import error_details_pb2
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport
from grpc_status import rpc_status
from tests.integration.styles.conftest import RunningShop
from zeep.exceptions import Fault

from bazaar.api.rpc.gen import shop_pb2 as pb
from bazaar.api.rpc.gen import shop_pb2_grpc

TNS = "urn:bazaar:shop:v1"
Result = tuple[Any, str | None]

#: REST problem slugs → the shared codes (the REST API predates them).
REST_CODES = {"not-found": "NOT_FOUND", "invalid-input": "BAD_USER_INPUT",
              "sold-out": "SOLD_OUT", "conflict": "CONFLICT", "retry": "RETRY",
              "idempotency-key-reused": "IDEMPOTENCY_KEY_REUSED", "forbidden": "FORBIDDEN",
              "unauthenticated": "UNAUTHENTICATED", "missing-credentials": "UNAUTHENTICATED",
              "bad-token": "UNAUTHENTICATED", "malformed": "UNAUTHENTICATED"}
REST_STATUS = {"NOT_FOUND": 404, "BAD_USER_INPUT": 422, "SOLD_OUT": 409, "CONFLICT": 409,
               "IDEMPOTENCY_KEY_REUSED": 422, "UNAUTHENTICATED": 401}
GRPC_STATUS = {"NOT_FOUND": grpc.StatusCode.NOT_FOUND,
               "BAD_USER_INPUT": grpc.StatusCode.INVALID_ARGUMENT,
               "IDEMPOTENCY_KEY_REUSED": grpc.StatusCode.INVALID_ARGUMENT,
               "SOLD_OUT": grpc.StatusCode.FAILED_PRECONDITION,
               "CONFLICT": grpc.StatusCode.FAILED_PRECONDITION,
               "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED}


def product(d: Any) -> dict[str, Any]:
    return {"id": int(d["id"]), "name": d["name"], "price_cents": int(d["price_cents"]),
            "stock": int(d["stock"])}


def order(d: Any) -> dict[str, Any]:
    return {"id": int(d["id"]), "status": d["status"], "total_cents": int(d["total_cents"]),
            "lines": [(int(ln["product_id"]), int(ln["quantity"])) for ln in d["lines"]]}


class Style:
    name = ""

    def get_product(self, product_id: int) -> Result: ...
    def list_products(self, limit: int) -> Result: ...
    def place_order(self, lines: list[tuple[int, int]], key: str | None) -> Result: ...
    def cancel_order(self, order_id: int) -> Result: ...
    def get_order(self, order_id: int) -> Result: ...
    def search_rooms(self, check_in: str, check_out: str) -> Result: ...


class Rest(Style):
    name = "rest"

    def __init__(self, shop: RunningShop, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=shop.url, headers=headers, timeout=30)

    def _do(self, method: str, path: str, shape: Callable[[Any], Any], **kw: Any) -> Result:
        r = self.http.request(method, path, **kw)
        if r.status_code < 300:
            return shape(r.json()), None
        code = REST_CODES[r.json()["type"].rsplit("/", 1)[-1]]
        assert r.status_code == REST_STATUS[code], (code, r.status_code)
        return None, code

    def get_product(self, product_id: int) -> Result:
        return self._do("GET", f"/products/{product_id}", product)

    def list_products(self, limit: int) -> Result:
        return self._do("GET", f"/products?limit={limit}",
                        lambda d: [product(p) for p in d["items"]])

    def place_order(self, lines: list[tuple[int, int]], key: str | None) -> Result:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
        r = self.http.post("/orders", json=body, headers=headers)
        if r.status_code < 300:
            return (order(r.json()), r.headers.get("idempotent-replayed") == "true"), None
        return self._do("POST", "/orders", order, json=body, headers=headers)

    def cancel_order(self, order_id: int) -> Result:
        return self._do("POST", f"/orders/{order_id}/cancel", order)

    def get_order(self, order_id: int) -> Result:
        return self._do("GET", f"/orders/{order_id}", order)

    def search_rooms(self, check_in: str, check_out: str) -> Result:
        return self._do("GET", f"/rooms?check_in={check_in}&check_out={check_out}",
                        lambda d: sorted(r["room"]["id"] for r in d))


class GraphQL(Style):
    name = "graphql"
    PRODUCT = "id name priceCents stock"
    ORDER = "id status totalCents lines { productId quantity }"

    def __init__(self, shop: RunningShop, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=shop.url, headers=headers, timeout=30)

    def _q(self, query: str, variables: dict[str, Any], field: str,
           shape: Callable[[Any], Any]) -> Result:
        r = self.http.post("/graphql", json={"query": query, "variables": variables})
        body = r.json()
        if body.get("errors"):
            assert body["data"] is None or body["data"].get(field) is None
            return None, body["errors"][0]["extensions"]["code"]
        assert r.status_code == 200
        return shape(body["data"][field]), None

    @staticmethod
    def _product(d: Any) -> dict[str, Any]:
        return product({"id": d["id"], "name": d["name"], "price_cents": d["priceCents"],
                        "stock": d["stock"]})

    @staticmethod
    def _order(d: Any) -> dict[str, Any]:
        return order({"id": d["id"], "status": d["status"], "total_cents": d["totalCents"],
                      "lines": [{"product_id": ln["productId"], "quantity": ln["quantity"]}
                                for ln in d["lines"]]})

    def get_product(self, product_id: int) -> Result:
        return self._q(f"query($id:Int!){{product(id:$id){{{self.PRODUCT}}}}}",
                       {"id": product_id}, "product", self._product)

    def list_products(self, limit: int) -> Result:
        return self._q(f"query($n:Int!){{products(first:$n){{nodes{{{self.PRODUCT}}}}}}}",
                       {"n": limit}, "products",
                       lambda d: [self._product(p) for p in d["nodes"]])

    def place_order(self, lines: list[tuple[int, int]], key: str | None) -> Result:
        return self._q(
            f"mutation($l:[LineInput!]!,$k:String){{placeOrder(input:{{lines:$l,"
            f"idempotencyKey:$k}}){{replayed order{{{self.ORDER}}}}}}}",
            {"l": [{"productId": p, "quantity": q} for p, q in lines], "k": key},
            "placeOrder", lambda d: (self._order(d["order"]), d["replayed"]))

    def cancel_order(self, order_id: int) -> Result:
        return self._q(f"mutation($id:Int!){{cancelOrder(id:$id){{{self.ORDER}}}}}",
                       {"id": order_id}, "cancelOrder", self._order)

    def get_order(self, order_id: int) -> Result:
        return self._q(f"query($id:Int!){{order(id:$id){{{self.ORDER}}}}}", {"id": order_id},
                       "order", self._order)

    def search_rooms(self, check_in: str, check_out: str) -> Result:
        return self._q("query($i:Date!,$o:Date!){rooms(checkIn:$i,checkOut:$o){room{id}}}",
                       {"i": check_in, "o": check_out}, "rooms",
                       lambda d: sorted(r["room"]["id"] for r in d))


class Grpc(Style):
    name = "grpc"

    def __init__(self, shop: RunningShop, token: str | None, channel: grpc.Channel) -> None:
        self.stub = shop_pb2_grpc.ShopStub(channel)
        self.meta = (("authorization", f"Bearer {token}"),) if token else ()

    def _call(self, fn: Any, request: Any, shape: Callable[[Any], Any]) -> Result:
        try:
            return shape(fn(request, metadata=self.meta, timeout=30)), None
        except grpc.RpcError as err:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
            assert status is not None
            info = error_details_pb2.ErrorInfo()
            assert status.details[0].Unpack(info)
            assert err.code() == GRPC_STATUS[info.reason], (info.reason, err.code())
            return None, info.reason

    @staticmethod
    def _product(m: pb.Product) -> dict[str, Any]:
        return product({"id": m.id, "name": m.name, "price_cents": m.price_cents,
                        "stock": m.stock})

    @staticmethod
    def _order(m: pb.Order) -> dict[str, Any]:
        return order({"id": m.id, "status": m.status, "total_cents": m.total_cents,
                      "lines": [{"product_id": ln.product_id, "quantity": ln.quantity}
                                for ln in m.lines]})

    def get_product(self, product_id: int) -> Result:
        return self._call(self.stub.GetProduct, pb.GetProductRequest(id=product_id),
                          self._product)

    def list_products(self, limit: int) -> Result:
        return self._call(self.stub.ListProducts, pb.ListProductsRequest(limit=limit),
                          lambda m: [self._product(p) for p in m.items])

    def place_order(self, lines: list[tuple[int, int]], key: str | None) -> Result:
        req = pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=p, quantity=q)
                                          for p, q in lines], idempotency_key=key or "")
        return self._call(self.stub.PlaceOrder, req,
                          lambda m: (self._order(m.order), m.replayed))

    def cancel_order(self, order_id: int) -> Result:
        return self._call(self.stub.CancelOrder, pb.CancelOrderRequest(id=order_id),
                          self._order)

    def get_order(self, order_id: int) -> Result:
        return self._call(self.stub.GetOrder, pb.GetOrderRequest(id=order_id), self._order)

    def search_rooms(self, check_in: str, check_out: str) -> Result:
        return self._call(self.stub.SearchRooms,
                          pb.SearchRoomsRequest(check_in=check_in, check_out=check_out),
                          lambda m: sorted(a.room.id for a in m.items))


class Soap(Style):
    name = "soap"

    def __init__(self, shop: RunningShop, token: str | None) -> None:
        session = requests.Session()
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        client = zeep.Client(f"{shop.url}/soap?wsdl",
                             transport=zeep.Transport(session=session, timeout=30,
                                                      operation_timeout=30))
        self.svc = client.bind("ShopService", "ShopSoap11Port")

    def _call(self, fn: Callable[[], Any], shape: Callable[[Any], Any]) -> Result:
        try:
            return shape(fn()), None
        except Fault as fault:
            assert fault.code.endswith(("Client", "Server"))
            return None, fault.detail.find(f".//{{{TNS}}}code").text

    @staticmethod
    def _product(m: Any) -> dict[str, Any]:
        return product({"id": m.id, "name": m.name, "price_cents": m.priceCents,
                        "stock": m.stock})

    @staticmethod
    def _order(m: Any) -> dict[str, Any]:
        return order({"id": m.id, "status": m.status, "total_cents": m.totalCents,
                      "lines": [{"product_id": ln.productId, "quantity": ln.quantity}
                                for ln in m.line]})

    def get_product(self, product_id: int) -> Result:
        return self._call(lambda: self.svc.GetProduct(id=product_id), self._product)

    def list_products(self, limit: int) -> Result:
        return self._call(lambda: self.svc.ListProducts(limit=limit),
                          lambda m: [self._product(p) for p in m.product])

    def place_order(self, lines: list[tuple[int, int]], key: str | None) -> Result:
        return self._call(lambda: self.svc.PlaceOrder(
            line=[{"productId": p, "quantity": q} for p, q in lines], idempotencyKey=key),
            lambda m: (self._order(m.order), bool(m.replayed)))

    def cancel_order(self, order_id: int) -> Result:
        return self._call(lambda: self.svc.CancelOrder(id=order_id), self._order)

    def get_order(self, order_id: int) -> Result:
        return self._call(lambda: self.svc.GetOrder(id=order_id), self._order)

    def search_rooms(self, check_in: str, check_out: str) -> Result:
        return self._call(lambda: self.svc.SearchRooms(checkIn=check_in, checkOut=check_out),
                          # zeep unwraps a response of one repeated element to the list
                          lambda m: sorted(a.room.id for a in (m or [])))


STYLES = ("rest", "graphql", "grpc", "soap")


@dataclass
class Styles:
    by_name: dict[str, Style]
    anonymous: dict[str, Style]


@pytest.fixture(scope="module")
def styles(running: RunningShop) -> Iterator[Styles]:
    with grpc.insecure_channel(running.grpc_target) as channel:
        def make(token: str | None) -> dict[str, Style]:
            return {"rest": Rest(running, token), "graphql": GraphQL(running, token),
                    "grpc": Grpc(running, token, channel), "soap": Soap(running, token)}
        yield Styles(make(running.token), make(None))


@dataclass(frozen=True)
class Case:
    """``call`` on a style; the expected error code, or None for success (the data must
    then be the same in every style)."""

    name: str
    call: Callable[[Style], Result]
    error: str | None


CASES = [
    Case("read a product", lambda s: s.get_product(1), None),
    Case("read a missing product", lambda s: s.get_product(999_999), "NOT_FOUND"),
    Case("read product id 0", lambda s: s.get_product(0), "BAD_USER_INPUT"),
    Case("a page of products", lambda s: s.list_products(5), None),
    Case("a page too large", lambda s: s.list_products(1000), "BAD_USER_INPUT"),
    Case("order more than the stock",
         lambda s: s.place_order([(8, s.get_product(8)[0]["stock"] + 1)], None),
         "SOLD_OUT"),
    Case("order a missing product", lambda s: s.place_order([(999_999, 1)], None),
         "NOT_FOUND"),
    Case("order zero units", lambda s: s.place_order([(1, 0)], None), "BAD_USER_INPUT"),
    Case("order no lines", lambda s: s.place_order([], None), "BAD_USER_INPUT"),
    Case("read a missing order", lambda s: s.get_order(999_999), "NOT_FOUND"),
    Case("cancel a missing order", lambda s: s.cancel_order(999_999), "NOT_FOUND"),
    Case("rooms, check-out before check-in",
         lambda s: s.search_rooms("2030-01-05", "2030-01-01"), "BAD_USER_INPUT"),
    Case("rooms beyond the horizon", lambda s: s.search_rooms("2031-01-01", "2031-01-03"),
         None),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_style_agrees(styles: Styles, case: Case) -> None:
    answers = {name: case.call(style) for name, style in styles.by_name.items()}
    codes = {name: code for name, (_, code) in answers.items()}
    assert codes == dict.fromkeys(STYLES, case.error)
    if case.error is None:
        data = [answer for answer, _ in answers.values()]
        assert all(d == data[0] for d in data), answers


@pytest.mark.parametrize("case", CASES[:4] + CASES[6:8], ids=[c.name for c in
                                                               CASES[:4] + CASES[6:8]])
def test_every_style_requires_an_identity(styles: Styles, case: Case) -> None:
    for name, style in styles.anonymous.items():
        assert case.call(style)[1] == "UNAUTHENTICATED", name


def test_the_order_lifecycle_is_the_same_in_every_style(styles: Styles) -> None:
    for name, style in styles.by_name.items():
        stock = style.get_product(2)[0]["stock"]
        (placed, replayed), error = style.place_order([(2, 1), (3, 1)], f"conf-{name}")
        assert error is None and not replayed and placed["status"] == "placed"
        (again, replayed), _ = style.place_order([(2, 1), (3, 1)], f"conf-{name}")
        assert replayed and again == placed, name
        assert style.place_order([(2, 2)], f"conf-{name}")[1] == "IDEMPOTENCY_KEY_REUSED"
        assert style.get_product(2)[0]["stock"] == stock - 1
        assert style.get_order(placed["id"]) == (placed, None)
        cancelled, error = style.cancel_order(placed["id"])
        assert error is None and cancelled["status"] == "cancelled"
        assert style.cancel_order(placed["id"])[1] == "CONFLICT"
        assert style.get_product(2)[0]["stock"] == stock
        for other in styles.by_name.values():  # every style sees what this one did
            assert other.get_order(placed["id"])[0]["status"] == "cancelled"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
def test_the_checkout_subscription_over_websocket(running: RunningShop, styles: Styles,
                                                  protocol: str) -> None:
    """gql over both GraphQL-over-WebSocket protocols (the current graphql-transport-ws and
    Apollo's older graphql-ws): the first state at once, then the change a failed start (no
    orchestrator under --no-services) makes, pushed without polling by the client."""
    (placed, _), _ = styles.by_name["rest"].place_order([(1, 1)], None)
    url = running.url.replace("http://", "ws://") + "/graphql"

    async def follow() -> list[dict[str, Any]]:
        transport = WebsocketsTransport(url=url, headers=running.auth,
                                        subprotocols=[protocol])
        seen: list[dict[str, Any]] = []
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            sub = GraphQLRequest(
                "subscription($id:Int!){checkoutStatus(orderId:$id){status reason}}",
                variable_values={"id": placed["id"]})
            async for result in session.subscribe(sub):
                seen.append(result["checkoutStatus"])
                if len(seen) == 1:
                    r = await asyncio.to_thread(
                        httpx.post, f"{running.url}/orders/{placed['id']}/checkout",
                        headers=running.auth, timeout=60)
                    assert r.status_code == 503  # the saga's orchestrator is not running
                if len(seen) == 2:
                    break
        return seen

    seen = asyncio.run(asyncio.wait_for(follow(), 90))
    assert seen[0] == {"status": "not_started", "reason": None}
    assert seen[1]["status"] == "not_started" and "could not start" in seen[1]["reason"]

    async def refused() -> None:
        transport = WebsocketsTransport(url=url, subprotocols=[protocol])
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            sub = gql("subscription{checkoutStatus(orderId:1){status}}")
            async for _ in session.subscribe(sub):
                break

    with pytest.raises(Exception):  # noqa: B017 - gql raises a transport error on a 1008 close
        asyncio.run(asyncio.wait_for(refused(), 60))
