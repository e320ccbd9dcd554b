"""The same auth in every HTTP style: an app signing with RFC 9421 (``bazaar.auth``'s
``HttpxSigner``) is served by GraphQL and SOAP as by REST; a tampered signed body is refused
natively; an app (not a user) may read but not order — the same rule in every style."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from lxml import etree
from starlette.testclient import TestClient
from tests.support.styles import LocalShop, local_shop

from bazaar import bootstrap
from bazaar.auth import HttpxSigner

TNS = "urn:bazaar:shop:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("signed"),
                    public_origin="http://testserver") as found:
        yield found


@pytest.fixture(scope="module")
def signed(shop: LocalShop) -> TestClient:
    issued = bootstrap.build_auth(shop.runtime).apps.create("styles-app", ["shop:read"])
    client = TestClient(shop.app, raise_server_exceptions=False)
    client.auth = HttpxSigner(issued.app_id, issued.api_key)
    return client


def soap(op: str, inner: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:tns="{TNS}"><soap:Body>'
            f"<tns:{op}>{inner}</tns:{op}></soap:Body></soap:Envelope>").encode()


def fault_code(r: httpx.Response) -> str | None:
    found = etree.fromstring(r.content).find(f".//{{{TNS}}}code")
    return None if found is None else found.text


def test_signed_requests_are_served_by_graphql_and_soap(signed: TestClient) -> None:
    r = signed.post("/graphql", json={"query": "{ product(id: 1) { name } }"})
    assert r.status_code == 200 and r.json()["data"]["product"]["name"]
    r = signed.post("/soap", content=soap("GetProduct", "<tns:id>1</tns:id>"),
                    headers={"Content-Type": "text/xml"})
    assert r.status_code == 200 and b"GetProductResponse" in r.content
    assert signed.get("/products/1").status_code == 200


def test_an_app_may_read_but_not_order_in_every_style(signed: TestClient) -> None:
    order = "mutation { placeOrder(input: {lines: [{productId: 1, quantity: 1}]}) { order {id} } }"
    r = signed.post("/graphql", json={"query": order})
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    r = signed.post("/soap", headers={"Content-Type": "text/xml"}, content=soap(
        "PlaceOrder", "<tns:line><tns:productId>1</tns:productId><tns:quantity>1"
                      "</tns:quantity></tns:line>"))
    assert fault_code(r) == "FORBIDDEN"
    r = signed.post("/orders", json={"lines": [{"product_id": 1, "quantity": 1}]})
    assert r.status_code == 403


def test_a_tampered_signed_body_is_refused_natively(shop: LocalShop, signed: TestClient
                                                    ) -> None:
    request = signed.build_request("POST", "/graphql",
                                   json={"query": "{ product(id: 1) { name } }"})
    flow = signed.auth.sync_auth_flow(request)  # type: ignore[union-attr]
    ready = next(flow)
    tampered = ready.content.replace(b"id: 1", b"id: 2")
    raw = TestClient(shop.app, raise_server_exceptions=False)
    r = raw.post("/graphql", content=tampered, headers=dict(ready.headers))
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert r.json()["errors"][0]["extensions"]["reason"] == "digest-mismatch"
