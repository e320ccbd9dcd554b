"""Every operation of every style needs an identity, and the identity's rate limit is each
style's native "slow down": REST 429, GraphQL RATE_LIMITED, gRPC RESOURCE_EXHAUSTED with
RetryInfo, a SOAP fault — all from the same limiter."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lxml import etree
from tests.support.styles import LocalShop, local_shop

from bazaar.api.graph import sdl
from bazaar.api.rpc.gen import shop_pb2
from bazaar.api.soap.model import OPERATIONS, TNS

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("every"), grpc=True,
                    failed_auth_burst=100_000) as found:
        yield found


def root_fields(kind: str) -> list[str]:
    """The fields of the schema's Query or Mutation type, from the SDL."""
    text = sdl()
    block = text[text.index(f"type {kind} {{"):]
    block = block[:block.index("\n}")]
    return [line.strip().split("(")[0].split(":")[0] for line in block.splitlines()[1:]
            if line.strip() and not line.strip().startswith('"')]


def test_every_graphql_field_needs_an_identity(shop: LocalShop) -> None:
    fields = [("query", f) for f in root_fields("Query")] + \
             [("mutation", f) for f in root_fields("Mutation")]
    assert len(fields) >= 14
    for kind, name in fields:
        # A selection that may not be valid for the field: the identity is checked first.
        r = shop.client.post("/graphql", json={"query": f"{kind} {{ {name} }}"})
        assert r.status_code == 401, name
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_every_rpc_needs_an_identity(shop: LocalShop) -> None:
    service = shop_pb2.DESCRIPTOR.services_by_name["Shop"]
    with grpc.insecure_channel(shop.grpc_target) as channel:
        for method in service.methods:
            path = f"/bazaar.shop.v1.Shop/{method.name}"
            call = channel.unary_stream(path) if method.server_streaming \
                else channel.unary_unary(path)
            with pytest.raises(grpc.RpcError) as info:
                answer = call(b"", timeout=30)
                if method.server_streaming:
                    list(answer)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name


def test_every_soap_operation_needs_an_identity(shop: LocalShop) -> None:
    for op in OPERATIONS:
        body = (f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:tns="{TNS}"><soap:Body>'
                f"<tns:{op.name}/></soap:Body></soap:Envelope>")
        r = shop.client.post("/soap", content=body.encode(),
                             headers={"Content-Type": "text/xml"})
        assert r.status_code == 401, op.name
        code = etree.fromstring(r.content).find(f".//{{{TNS}}}code")
        assert code is not None and code.text == "UNAUTHENTICATED", op.name


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("limited"), grpc=True, rate_limit_per_s=0.01,
                    rate_limit_burst=2) as found:
        yield found


def test_the_rate_limit_is_native_in_every_style(limited: LocalShop) -> None:
    shop = limited
    assert shop.client.get("/products/1", headers=shop.user).status_code == 200
    assert shop.client.get("/products/1", headers=shop.user).status_code == 200
    r = shop.client.get("/products/1", headers=shop.user)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    r = shop.client.post("/graphql", json={"query": "{ me { id } }"}, headers=shop.user)
    assert r.status_code == 429
    error = r.json()["errors"][0]["extensions"]
    assert error["code"] == "RATE_LIMITED" and error["retryable"] is True
    r = shop.client.post("/soap", headers={**shop.user, "Content-Type": "text/xml"},
                         content=f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:tns="{TNS}">'
                                 f"<soap:Body><tns:GetProduct><tns:id>1</tns:id>"
                                 f"</tns:GetProduct></soap:Body></soap:Envelope>".encode())
    assert r.status_code == 429
    assert etree.fromstring(r.content).find(f".//{{{TNS}}}code").text == "RATE_LIMITED"
    with grpc.insecure_channel(shop.grpc_target) as channel:
        call = channel.unary_unary("/bazaar.shop.v1.Shop/GetProduct")
        with pytest.raises(grpc.RpcError) as info:
            call(shop_pb2.GetProductRequest(id=1).SerializeToString(), timeout=30,
                 metadata=(("authorization", shop.user["Authorization"]),))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(info.value)  # type: ignore[arg-type]
    assert status is not None
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert retry, "RetryInfo in the details"
    unpacked = error_details_pb2.RetryInfo()
    retry[0].Unpack(unpacked)
    assert unpacked.retry_delay.seconds >= 1
