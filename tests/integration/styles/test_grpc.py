"""gRPC on its own port, with grpcio's own client: unary and streaming calls, status codes
with google.rpc details, Bearer metadata on every call, deadlines, health, reflection,
garbage and truncated messages, and the generated code reproducible from the proto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from tests.support.styles import LocalShop, local_shop

from bazaar.api.rpc import codegen
from bazaar.api.rpc.gen import shop_pb2 as pb
from bazaar.api.rpc.gen import shop_pb2_grpc

REPO = Path(__file__).resolve().parents[3]
TIMEOUT = 30


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("grpc"), grpc=True) as found:
        yield found


@pytest.fixture(scope="module")
def channel(shop: LocalShop) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(shop.grpc_target) as ch:
        yield ch


def meta(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", headers["Authorization"]),)


def details(err: grpc.RpcError) -> dict[str, Any]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    found: dict[str, Any] = {}
    for packed in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest,
                     error_details_pb2.PreconditionFailure, error_details_pb2.RetryInfo,
                     error_details_pb2.ResourceInfo):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found[kind.__name__] = message
    return found


def failing(fn: Any, request: Any, **kw: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=TIMEOUT, **kw)
    return info.value  # type: ignore[no-any-return]


def test_unary_calls_and_errors_with_rich_details(shop: LocalShop, channel: grpc.Channel
                                                   ) -> None:
    stub = shop_pb2_grpc.ShopStub(channel)
    me = meta(shop.user)
    found = stub.GetProduct(pb.GetProductRequest(id=1), metadata=me, timeout=TIMEOUT)
    rest = shop.client.get("/products/1", headers=shop.user).json()
    assert (found.id, found.name, found.price_cents, found.stock) == (
        rest["id"], rest["name"], rest["price_cents"], rest["stock"])
    err = failing(stub.GetProduct, pb.GetProductRequest(id=999999), metadata=me)
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert details(err)["ErrorInfo"].reason == "NOT_FOUND"
    err = failing(stub.ListProducts, pb.ListProductsRequest(limit=1000), metadata=me)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    violation = details(err)["BadRequest"].field_violations[0]
    assert violation.field == "limit"
    left = found.stock
    err = failing(stub.PlaceOrder, pb.PlaceOrderRequest(
        lines=[pb.LineRequest(product_id=1, quantity=left + 1)]), metadata=me)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = details(err)
    assert info["ErrorInfo"].reason == "SOLD_OUT"
    assert info["ErrorInfo"].metadata["available"] == str(left)
    assert "PreconditionFailure" in info
    assert stub.GetProduct(pb.GetProductRequest(id=1), metadata=me,
                           timeout=TIMEOUT).stock == left  # nothing changed


def test_place_order_idempotent_cancel_and_conflict(shop: LocalShop, channel: grpc.Channel
                                                    ) -> None:
    stub = shop_pb2_grpc.ShopStub(channel)
    me = meta(shop.user)
    before = stub.GetProduct(pb.GetProductRequest(id=2), metadata=me, timeout=TIMEOUT).stock
    req = pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=2, quantity=1)],
                               idempotency_key="grpc-key-1")
    first = stub.PlaceOrder(req, metadata=me, timeout=TIMEOUT)
    again = stub.PlaceOrder(req, metadata=me, timeout=TIMEOUT)
    assert (first.replayed, again.replayed) == (False, True)
    assert first.order.id == again.order.id
    assert stub.GetProduct(pb.GetProductRequest(id=2), metadata=me,
                           timeout=TIMEOUT).stock == before - 1
    other = pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=3, quantity=1)],
                                 idempotency_key="grpc-key-1")
    err = failing(stub.PlaceOrder, other, metadata=me)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(err)["ErrorInfo"].reason == "IDEMPOTENCY_KEY_REUSED"
    cancelled = stub.CancelOrder(pb.CancelOrderRequest(id=first.order.id), metadata=me,
                                 timeout=TIMEOUT)
    assert cancelled.status == "cancelled"
    err = failing(stub.CancelOrder, pb.CancelOrderRequest(id=first.order.id), metadata=me)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(err)["ErrorInfo"].reason == "CONFLICT"


def test_order_history_streams_with_product_names(shop: LocalShop, channel: grpc.Channel
                                                  ) -> None:
    stub = shop_pb2_grpc.ShopStub(channel)
    me = meta(shop.user)
    for pid in (4, 5, 6):
        stub.PlaceOrder(pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=pid,
                                                                   quantity=1)]),
                        metadata=me, timeout=TIMEOUT)
    streamed = list(stub.StreamOrders(pb.StreamOrdersRequest(with_product_names=True),
                                      metadata=me, timeout=TIMEOUT))
    listed = shop.client.get("/orders?limit=100", headers=shop.user).json()["items"]
    assert [o.id for o in streamed] == [o["id"] for o in listed]
    names = {p["id"]: p["name"] for p in
             shop.client.get("/products?limit=100", headers=shop.user).json()["items"]}
    assert all(ln.product_name == names[ln.product_id] for o in streamed for ln in o.lines)
    page = stub.ListOrders(pb.ListOrdersRequest(limit=2), metadata=me, timeout=TIMEOUT)
    assert len(page.items) == 2 and page.next_after == page.items[-1].id
    assert page.items[0].lines[0].product_name == ""  # not asked for


def test_every_call_needs_a_bearer_token(shop: LocalShop, channel: grpc.Channel) -> None:
    stub = shop_pb2_grpc.ShopStub(channel)
    calls = [(stub.GetProduct, pb.GetProductRequest(id=1)),
             (stub.PlaceOrder, pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=1,
                                                                          quantity=1)])),
             (stub.CancelOrder, pb.CancelOrderRequest(id=1))]
    for fn, request in calls:
        for metadata in ((), (("authorization", "Bearer forged"),)):
            err = failing(fn, request, metadata=metadata)
            assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as info:
        list(stub.StreamOrders(pb.StreamOrdersRequest(), timeout=TIMEOUT))
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_bad_bytes_are_invalid_argument_and_the_server_keeps_serving(shop: LocalShop,
                                                             channel: grpc.Channel) -> None:
    me = meta(shop.user)
    stub = shop_pb2_grpc.ShopStub(channel)
    raw = channel.unary_unary("/bazaar.shop.v1.Shop/PlaceOrder")
    whole = pb.PlaceOrderRequest(lines=[pb.LineRequest(product_id=1, quantity=1)],
                                 idempotency_key="truncated").SerializeToString()
    for garbage in (whole[:-3], b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0a\x7f"):
        with pytest.raises(grpc.RpcError) as info:
            raw(garbage, metadata=me, timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, garbage
        assert details(info.value)["BadRequest"].field_violations[0].field == "request"
    big = channel.unary_unary("/bazaar.shop.v1.Shop/GetProduct")
    with pytest.raises(grpc.RpcError) as info:
        big(b"\x08\x01" + b"\x12" + b"\x80\x80\x05" + b"x" * (80 * 1024), metadata=me,
            timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # over 64 KiB, unread
    history = list(stub.StreamOrders(pb.StreamOrdersRequest(), metadata=me, timeout=TIMEOUT))
    assert all(o.id != 0 for o in history)
    assert stub.GetProduct(pb.GetProductRequest(id=1), metadata=me, timeout=TIMEOUT).id == 1


def test_health_and_reflection(shop: LocalShop, channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "bazaar.shop.v1.Shop"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    asked = [reflection_pb2.ServerReflectionRequest(list_services=""),
             reflection_pb2.ServerReflectionRequest(
                 file_containing_symbol="bazaar.shop.v1.Shop")]
    answers = list(refl.ServerReflectionInfo(iter(asked), timeout=TIMEOUT))
    services = {s.name for s in answers[0].list_services_response.service}
    assert {"bazaar.shop.v1.Shop", "grpc.health.v1.Health"} <= services
    files = answers[1].file_descriptor_response.file_descriptor_proto
    proto = descriptor_pb2.FileDescriptorProto.FromString(files[0])
    assert proto.name == "bazaar/shop/v1/shop.proto"
    methods = {m.name for m in proto.service[0].method}
    assert {"GetProduct", "PlaceOrder", "StreamOrders", "CancelOrder"} <= methods


def test_the_index_names_every_style(shop: LocalShop) -> None:
    links = shop.client.get("/").json()["links"]
    assert links["grpc"] == f"testserver:{shop.app.state.grpc_port}"
    for name, path in (("graphql", "/graphql"), ("graphiql", "/graphiql"),
                       ("graphql_schema", "/graphql/schema.graphql"), ("wsdl", "/soap?wsdl")):
        assert links[name].endswith(path)
    assert shop.client.get(links["wsdl"].replace("http://testserver", "")).status_code == 200


def test_generated_code_is_what_the_proto_generates() -> None:
    assert codegen.stale(REPO / "proto") == [], (
        "src/bazaar/api/rpc/gen is stale: python -m bazaar.api.rpc.codegen")
