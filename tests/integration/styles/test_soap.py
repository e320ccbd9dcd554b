"""SOAP at /soap with an unmodified zeep client built from the served WSDL URL: SOAP 1.1 and
1.2 ports, faults with the shared codes, auth in HTTP headers, and hostile XML (billion
laughs, XXE, garbage) refused with a fault while nothing changes."""

from __future__ import annotations

import httpx
import pytest
import requests
import zeep
from lxml import etree
from tests.integration.styles.conftest import RunningShop
from zeep.exceptions import Fault

TNS = "urn:bazaar:shop:v1"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def client(shop: RunningShop, token: str | None, port: str = "ShopSoap11Port"
           ) -> zeep.proxy.ServiceProxy:
    session = requests.Session()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    transport = zeep.Transport(session=session, timeout=30, operation_timeout=30)
    made = zeep.Client(f"{shop.url}/soap?wsdl", transport=transport)
    return made.bind("ShopService", port)


def code_of(fault: Fault) -> str:
    found = fault.detail.find(f".//{{{TNS}}}code")
    assert found is not None, etree.tostring(fault.detail)
    return str(found.text)


def stock(shop: RunningShop, product_id: int) -> int:
    r = httpx.get(f"{shop.url}/products/{product_id}", headers=shop.auth, timeout=30)
    found: int = r.json()["stock"]
    return found


@pytest.mark.parametrize("port", ["ShopSoap11Port", "ShopSoap12Port"])
def test_zeep_calls_every_kind_of_operation(running: RunningShop, port: str) -> None:
    svc = client(running, running.token, port)
    product = svc.GetProduct(id=1)
    assert product.id == 1 and product.name
    page = svc.ListProducts(limit=3)
    assert [p.id for p in page.product] == [1, 2, 3] and page.nextAfter == 3
    before = stock(running, 2)
    placed = svc.PlaceOrder(line=[{"productId": 2, "quantity": 1}],
                            idempotencyKey=f"soap-{port}")
    again = svc.PlaceOrder(line=[{"productId": 2, "quantity": 1}],
                           idempotencyKey=f"soap-{port}")
    assert (placed.replayed, again.replayed) == (False, True)
    assert placed.order.id == again.order.id and stock(running, 2) == before - 1
    history = svc.ListOrders(withProductNames=True, limit=100)
    assert placed.order.id in [o.id for o in history.order]
    assert all(line.productName for o in history.order for line in o.line)
    cancelled = svc.CancelOrder(id=placed.order.id)
    assert cancelled.status == "cancelled" and stock(running, 2) == before


@pytest.mark.parametrize("port", ["ShopSoap11Port", "ShopSoap12Port"])
def test_faults_carry_the_shared_codes(running: RunningShop, port: str) -> None:
    svc = client(running, running.token, port)
    with pytest.raises(Fault) as info:
        svc.GetProduct(id=999999)
    assert code_of(info.value) == "NOT_FOUND"
    left = stock(running, 3)
    with pytest.raises(Fault) as info:
        svc.PlaceOrder(line=[{"productId": 3, "quantity": left + 1}])
    assert code_of(info.value) == "SOLD_OUT"
    assert info.value.detail.find(f".//{{{TNS}}}available").text == str(left)
    assert stock(running, 3) == left
    with pytest.raises(Fault) as info:
        svc.ListProducts(limit=1000)
    assert code_of(info.value) == "BAD_USER_INPUT"
    assert info.value.detail.find(f".//{{{TNS}}}field").text == "limit"
    expected = "soap:Client" if port == "ShopSoap11Port" else "soap:Sender"
    assert info.value.code.endswith(expected.split(":")[1])


def test_every_operation_needs_auth(running: RunningShop) -> None:
    for token in (None, "forged"):
        svc = client(running, token)
        for call in (lambda s: s.GetProduct(id=1), lambda s: s.ListOrders(),
                     lambda s: s.PlaceOrder(line=[{"productId": 1, "quantity": 1}])):
            with pytest.raises(Fault) as info:
                call(svc)
            assert code_of(info.value) == "UNAUTHENTICATED"


def envelope(body: str, version: str = SOAP11, prolog: str = "") -> bytes:
    return (f'{prolog}<soap:Envelope xmlns:soap="{version}" xmlns:tns="{TNS}">'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>").encode()


def post(shop: RunningShop, raw: bytes, content_type: str = "text/xml; charset=utf-8"
         ) -> httpx.Response:
    return httpx.post(f"{shop.url}/soap", content=raw, timeout=30,
                      headers={**shop.auth, "Content-Type": content_type})


def fault_code(r: httpx.Response) -> str:
    root = etree.fromstring(r.content)
    found = root.find(f".//{{{TNS}}}code")
    assert found is not None, r.text
    return str(found.text)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""


def test_hostile_xml_is_a_fault_and_nothing_changes(running: RunningShop) -> None:
    before = stock(running, 1)
    order = "<tns:PlaceOrder><tns:line><tns:productId>1</tns:productId>" \
            "<tns:quantity>1</tns:quantity></tns:line>{}</tns:PlaceOrder>"
    bomb = envelope(order.format("<tns:idempotencyKey>&lol9;</tns:idempotencyKey>"),
                    prolog=BILLION_LAUGHS)
    xxe = envelope(order.format("<tns:idempotencyKey>&xxe;</tns:idempotencyKey>"),
                   prolog=XXE)
    for raw in (bomb, xxe):
        r = post(running, raw)
        assert r.status_code == 500 and fault_code(r) == "BAD_USER_INPUT"
        assert "root:" not in r.text and "lollol" not in r.text
    cases = [
        (b"\x00\xff garbage \xfe", "text/xml"),
        (b"<not-closed>", "text/xml"),
        (envelope("<tns:GetProduct><tns:id>abc</tns:id></tns:GetProduct>"), "text/xml"),
        (envelope("<tns:GetProduct><tns:id>99999999999999999999999</tns:id></tns:GetProduct>"),
         "text/xml"),
        (envelope("<tns:GetProduct><tns:nope>1</tns:nope></tns:GetProduct>"), "text/xml"),
        (envelope("<tns:Nope/>"), "text/xml"),
        (envelope("<tns:GetProduct><tns:id>1</tns:id></tns:GetProduct>", SOAP12), "text/xml"),
        (envelope("<tns:GetProduct><tns:id>1</tns:id></tns:GetProduct>"), "application/json"),
        (b"<x/>" + b" " * (70 * 1024), "text/xml"),
    ]
    for raw, kind in cases:
        r = post(running, raw, kind)
        assert r.status_code in (400, 413, 500), (raw[:60], r.status_code)
        assert fault_code(r) == "BAD_USER_INPUT", raw[:60]
    assert stock(running, 1) == before
    ok = post(running, envelope("<tns:GetProduct><tns:id>1</tns:id></tns:GetProduct>"))
    assert ok.status_code == 200 and b"GetProductResponse" in ok.content
    soap12 = post(running, envelope("<tns:GetProduct><tns:id>1</tns:id></tns:GetProduct>",
                                    SOAP12), "application/soap+xml; charset=utf-8")
    assert soap12.status_code == 200
    assert soap12.headers["content-type"].startswith("application/soap+xml")


def test_the_wsdl_is_public_and_names_both_bindings(running: RunningShop) -> None:
    r = httpx.get(f"{running.url}/soap?wsdl", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(r.content)
    ns = {"w": "http://schemas.xmlsoap.org/wsdl/"}
    assert {b.get("name") for b in root.findall("w:binding", ns)} == {"ShopSoap11",
                                                                      "ShopSoap12"}
    ops = {o.get("name") for o in root.findall("w:portType/w:operation", ns)}
    assert {"GetProduct", "PlaceOrder", "CancelOrder", "ListOrders", "ReserveRoom"} <= ops
