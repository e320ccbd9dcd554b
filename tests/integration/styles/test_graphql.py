"""GraphQL at /graphql on the production app, in-process: queries, pagination, mutations,
DataLoaders (a fixed number of SQL statements), depth/cost limits, native errors, auth,
introspection and the SDL, GraphiQL served offline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import build_client_schema, get_introspection_query, print_schema
from tests.support.styles import LocalShop, counted_statements, local_shop

from bazaar.api.graph import sdl

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("graphql")) as found:
        yield found


def gql(shop: LocalShop, query: str, variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = shop.client.post("/graphql", json={"query": query, "variables": variables or {}},
                         headers=shop.user if headers is None else headers)
    assert r.status_code in (200, 400, 401), r.text
    body: dict[str, Any] = r.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def stock(shop: LocalShop, product_id: int) -> int:
    found: int = gql(shop, "query($id:Int!){product(id:$id){stock}}", {"id": product_id}
                     )["data"]["product"]["stock"]
    return found


def test_products_page_through_every_product_with_cursors(shop: LocalShop) -> None:
    q = """query($after: String) { products(first: 3, after: $after) {
             edges { cursor node { id name priceCents stock } }
             pageInfo { hasNextPage endCursor } } }"""
    seen, after, pages = [], None, 0
    while pages < 20:
        conn = gql(shop, q, {"after": after})["data"]["products"]
        seen += [e["node"]["id"] for e in conn["edges"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    rest = shop.client.get("/products?limit=100", headers=shop.user).json()["items"]
    assert seen == [p["id"] for p in rest]
    assert pages == -(-len(rest) // 3)
    cheap = gql(shop, "{ products(first: 100, filter: {maxPriceCents: 1000}) "
                      "{ nodes { priceCents } } }")["data"]["products"]["nodes"]
    assert cheap and all(p["priceCents"] <= 1000 for p in cheap)


def test_a_cursor_of_another_list_or_garbage_is_bad_input(shop: LocalShop) -> None:
    order_cursor = "b3JkZXI6MQ=="  # "order:1"
    for bad in (order_cursor, "%%%", "cHJvZHVjdDp4"):  # the last: "product:x"
        body = gql(shop, "query($a:String){products(after:$a){nodes{id}}}", {"a": bad})
        assert codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["field"] == "after"


def test_place_order_is_idempotent_and_cancel_returns_stock(shop: LocalShop) -> None:
    before = stock(shop, 2)
    place = """mutation($key: String) { placeOrder(input: {lines: [{productId: 2, quantity: 2}],
               idempotencyKey: $key}) { replayed order { id status totalCents
               lines { quantity product { id name } } } } }"""
    first = gql(shop, place, {"key": "gql-key-1"})["data"]["placeOrder"]
    again = gql(shop, place, {"key": "gql-key-1"})["data"]["placeOrder"]
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert first["order"]["id"] == again["order"]["id"]
    assert first["order"]["lines"][0]["product"]["id"] == 2
    assert stock(shop, 2) == before - 2  # placed once
    cancel = "mutation($id:Int!){cancelOrder(id:$id){status}}"
    order_id = first["order"]["id"]
    assert gql(shop, cancel, {"id": order_id})["data"]["cancelOrder"]["status"] == "cancelled"
    assert stock(shop, 2) == before
    body = gql(shop, cancel, {"id": order_id})
    assert codes(body) == ["CONFLICT"]
    assert stock(shop, 2) == before


def test_sold_out_and_not_found_carry_their_details(shop: LocalShop) -> None:
    left = stock(shop, 3)
    body = gql(shop, "mutation($q:Int!){placeOrder(input:{lines:[{productId:3,quantity:$q}]})"
                     "{order{id}}}", {"q": left + 1})
    assert codes(body) == ["SOLD_OUT"]
    assert body["errors"][0]["extensions"]["available"] == left
    assert body["data"] is None
    assert stock(shop, 3) == left
    body = gql(shop, "{ order(id: 999999) { id } }")
    assert codes(body) == ["NOT_FOUND"]


def test_rooms_reserve_and_availability(shop: LocalShop) -> None:
    q = "{ rooms(checkIn: \"2030-01-01\", checkOut: \"2030-01-03\") { room { id } available } }"
    assert gql(shop, q)["data"]["rooms"] == []  # beyond the booking horizon: nothing free
    backwards = q.replace("2030-01-03", "2029-12-30")
    assert codes(gql(shop, backwards)) == ["BAD_USER_INPUT"]
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * 10))
    out = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400 * 12))
    rooms = gql(shop, "query($i:Date!,$o:Date!){rooms(checkIn:$i,checkOut:$o){room{id}"
                      "available nights}}", {"i": day, "o": out})["data"]["rooms"]
    assert rooms and rooms[0]["nights"] == 2
    room = rooms[0]["room"]["id"]
    made = gql(shop, "mutation($r:Int!,$i:Date!,$o:Date!){reserveRoom(input:{roomId:$r,"
                     "checkIn:$i,checkOut:$o}){id status checkIn}}",
               {"r": room, "i": day, "o": out})["data"]["reserveRoom"]
    assert made["status"] == "booked" and made["checkIn"] == day
    after = gql(shop, "query($i:Date!,$o:Date!){rooms(checkIn:$i,checkOut:$o){room{id}"
                      "available}}", {"i": day, "o": out})["data"]["rooms"]
    assert {r["room"]["id"]: r["available"] for r in after}[room] == rooms[0]["available"] - 1


def test_nested_orders_cost_a_fixed_number_of_statements(shop: LocalShop) -> None:
    """DataLoaders: the orders, their lines and every line's product in a fixed number of SQL
    statements, whether the caller has two orders or twelve."""
    place = "mutation($p:Int!){placeOrder(input:{lines:[{productId:$p,quantity:1}," \
            "{productId:1,quantity:1}]}){order{id}}}"
    q = "{ myOrders(first: 100) { nodes { id lines { quantity product { name sku } } } } }"
    counts = []
    for extra in (2, 10):
        for i in range(extra):
            assert "errors" not in gql(shop, place, {"p": 4 + i % 3})
        with counted_statements(shop.engine) as seen:
            body = gql(shop, q)
        orders = body["data"]["myOrders"]["nodes"]
        assert all(line["product"]["name"] for o in orders for line in o["lines"])
        queries = [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]
        counts.append((len(orders), len(queries)))
    (few, few_sql), (many, many_sql) = counts
    assert many > few
    assert few_sql == many_sql <= 3  # orders, their lines (selectin), the products (IN)


def test_auth_is_required_on_every_operation(shop: LocalShop) -> None:
    for op in ("{ products { nodes { id } } }", "{ me { id } }",
               "mutation { cancelOrder(id: 1) { id } }"):
        r = shop.client.post("/graphql", json={"query": op})
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert codes(r.json()) == ["UNAUTHENTICATED"]
        r = shop.client.post("/graphql", json={"query": op},
                             headers={"Authorization": "Bearer not-a-token"})
        assert codes(r.json()) == ["UNAUTHENTICATED"]


def test_hostile_documents_are_refused_at_once(shop: LocalShop) -> None:
    nested = "{ myOrders { nodes { lines { product { " + "id { " * 50 + "x" + " }" * 50 \
             + " } } } } }"
    wide = "{ " + " ".join(f"a{i}: products(first: 100) {{ nodes {{ id name sku stock }} }}"
                           for i in range(20)) + " }"
    with counted_statements(shop.engine) as seen:  # refused before any resolver ran
        body = gql(shop, nested)
        assert "QUERY_TOO_DEEP" in codes(body) and body.get("data") is None
        assert codes(gql(shop, wide)) == ["QUERY_TOO_COMPLEX"]
    assert seen == []
    huge = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(3000)) + " }"
    r = shop.client.post("/graphql", json={"query": huge}, headers=shop.user)
    assert r.status_code == 200 and codes(r.json()) == ["QUERY_TOO_COMPLEX"]
    assert codes(gql(shop, "{ product(id: ")) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(gql(shop, "{ product(id: \"x\") { id } }")) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(gql(shop, "{ product(id: 99999999999) { id } }")) == [
        "GRAPHQL_VALIDATION_FAILED"]  # beyond GraphQL's 32-bit Int
    assert codes(gql(shop, "{ nope }")) == ["GRAPHQL_VALIDATION_FAILED"]
    for raw in (b"\x00\xff\xfe garbage", b"{}", b"[1,2", b'{"query": 5}'):
        r = shop.client.post("/graphql", content=raw,
                             headers={**shop.user, "Content-Type": "application/json"})
        assert r.status_code == 400, raw
        assert codes(r.json()) == ["BAD_REQUEST"]
    big = "{ me { id } }" + " " * (70 * 1024)
    r = shop.client.post("/graphql", json={"query": big}, headers=shop.user)
    assert r.status_code == 413 and codes(r.json()) == ["BAD_USER_INPUT"]
    # and the server still serves
    assert gql(shop, "{ me { id } }")["data"]["me"]["id"] == shop.user_id


def test_introspection_rebuilds_the_published_sdl(shop: LocalShop) -> None:
    body = gql(shop, get_introspection_query(descriptions=True))
    assert "errors" not in body  # GraphiQL's own query passes the depth limit
    rebuilt = print_schema(build_client_schema(body["data"]))
    served = shop.client.get("/graphql/schema.graphql")
    assert served.status_code == 200  # public, like /openapi.json
    assert served.text.strip() == sdl().strip()
    assert print_schema(build_client_schema(body["data"])) == rebuilt
    for name in ("placeOrder", "cancelOrder", "reserveRoom", "startCheckout", "checkoutStatus",
                 "myOrders", "pageInfo"):
        assert name in served.text
    committed = (REPO / "docs" / "api" / "shop.graphql").read_text()
    assert committed == sdl(), (
        "docs/api/shop.graphql is stale: bazaar styles sdl --out docs/api/shop.graphql")


def test_graphiql_is_served_offline(shop: LocalShop) -> None:
    page = shop.client.get("/graphiql")
    assert page.status_code == 200 and "graphiql.min.js" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js",
                  "react-dom.production.min.js"):
        r = shop.client.get(f"/graphiql/static/{asset}")
        assert r.status_code == 200 and len(r.content) > 1000, asset
