"""Bad input gets a 422 naming the field and changes nothing — never a 500 — on the real
server (``bazaar up``, SQLite), including the inputs an API fuzzer found."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from tests.integration.api.conftest import RunningShop, token

HUGE = "20949996462247472406962123655723614208"  # > 2**64


@pytest.mark.parametrize(("method", "path", "field"), [
    ("GET", f"/orders/{HUGE}", "order_id"),
    ("POST", f"/orders/{HUGE}/cancel", "order_id"),
    ("GET", f"/products/{HUGE}", "product_id"),
    ("GET", f"/rooms/{HUGE}", "room_id"),
    ("GET", f"/reservations/{HUGE}", "reservation_id"),
    ("POST", f"/products/{HUGE}/views", "product_id"),
    ("GET", "/orders/0", "order_id"),
    ("GET", f"/products?after={HUGE}", "after"),
    ("GET", f"/orders?after={HUGE}", "after"),
    ("GET", "/products?max_price_cents=", "max_price_cents"),
    ("GET", "/products?min_price_cents=-1", "min_price_cents"),
    ("GET", "/products?after=a&after=", "after"),
    ("GET", "/products?limit=0", "limit"),
    ("GET", "/products?limit=101", "limit"),
    ("GET", "/products?in_stock=maybe", "in_stock"),
    ("GET", "/rooms?check_in=2027-01-01", "check_out"),
    ("GET", "/stats/daily-actives?days=2026-02-30", "days.0"),
])
def test_out_of_range_parameters_are_422_naming_the_field(
        shop_up: RunningShop, method: str, path: str, field: str) -> None:
    with shop_up.client(shop_up.admin_token) as client:
        r = client.request(method, path)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == field
    assert r.json()["reason"] == "invalid-input"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/products/1/restock", {"quantity": 21_000_000_000_000_000_000}, "quantity"),
    ("/products/1/restock", {"quantity": 2.1e19}, "quantity"),
    ("/products/1/restock", {"quantity": 0}, "quantity"),
    ("/orders", {"lines": [{"product_id": 900_000_000_000_000_000_000, "quantity": 1}]},
     "lines.0.product_id"),
    ("/orders", {"lines": [{"product_id": 1, "quantity": 10**20}]}, "lines.0.quantity"),
    ("/orders", {"lines": []}, "lines"),
    ("/products", {"sku": "MUG-9", "name": "   ", "price_cents": 1}, "name"),
    ("/products", {"sku": "MUG-9", "name": "Mug", "price_cents": 2**70}, "price_cents"),
    ("/reservations", {"room_id": 2**64, "check_in": "2027-01-01", "check_out": "2027-01-02"},
     "room_id"),
    ("/users", {"username": "x", "password": "long-enough"}, "username"),
    ("/users", {"username": "newbie", "password": "short"}, "password"),
])
def test_out_of_range_bodies_are_422_and_change_nothing(
        shop_up: RunningShop, path: str, body: object, field: str) -> None:
    with shop_up.client(shop_up.admin_token) as client:
        before = client.get("/products/1").json()
        r = client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
        assert client.get("/products/1").json() == before


def test_options_allow_lists_every_method_the_openapi_document_has(
        shop_up: RunningShop) -> None:
    with shop_up.client(shop_up.user_token) as client:
        paths = client.get("/openapi.json").json()["paths"]
        for path, item in paths.items():
            concrete = path.replace("{product_id}", "1").replace("{order_id}", "1") \
                .replace("{room_id}", "1").replace("{reservation_id}", "1")
            r = client.options(concrete)
            assert r.status_code == 204, (path, r.status_code, r.text)
            allowed = set(r.headers["allow"].split(", "))
            documented = {m.upper() for m in item}
            assert allowed - {"OPTIONS", "HEAD"} == documented, path
            wrong = client.request("PATCH", concrete)
            assert wrong.status_code == 405
            assert set(wrong.headers["allow"].split(", ")) == allowed


def test_a_user_whose_rows_are_gone_gets_a_problem_not_a_500(shop_up: RunningShop) -> None:
    with shop_up.client() as anonymous:
        r = anonymous.post("/users", json={"username": "ghost", "password": "ghost-password"})
        assert r.status_code == 201
    ghost = token(shop_up.url, "ghost", "ghost-password")
    with sqlite3.connect(shop_up.data_dir / "bazaar.db") as db:
        db.execute("DELETE FROM users WHERE username = 'ghost'")
    with shop_up.client(ghost) as client:
        stock = client.get("/products/1").json()["stock"]
        r = client.post("/orders", json={"lines": [{"product_id": 1, "quantity": 1}]})
        assert r.status_code == 409, r.text
        assert r.json()["reason"] == "conflict"
        assert r.headers.get("connection") != "close"
        r = client.post("/reservations", json={"room_id": 1, "check_in": _day(10),
                                               "check_out": _day(12)})
        assert r.status_code == 409, r.text
        assert client.get("/products/1").json()["stock"] == stock
        assert client.get("/users/me").status_code == 404


def test_keep_alive_survives_refusals(shop_up: RunningShop) -> None:
    """One connection: a 422, a 404, a 409 and a 200 in a row (nothing is reset)."""
    transport = httpx.HTTPTransport(retries=0)
    with httpx.Client(base_url=shop_up.url, transport=transport, timeout=10,
                      headers={"Authorization": f"Bearer {shop_up.user_token}"}) as client:
        statuses = [client.get(f"/orders/{HUGE}").status_code,
                    client.get("/orders/999999").status_code,
                    client.post("/orders", json={"lines": [{"product_id": 8,
                                                            "quantity": 1000}]}).status_code,
                    client.get("/products/1").status_code]
    assert statuses == [422, 404, 409, 200]


def _day(offset: int) -> str:
    """A day relative to the server's today (UTC, as the demo rooms' horizon is)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize(("check_in", "check_out", "field"), [
    (400, 402, "check_out"),   # a year and more ahead: past the horizon
    (364, 366, "check_out"),   # the last night is bookable, the one after is not
    (-1, 1, "check_in"),       # yesterday has gone
])
def test_a_stay_outside_the_booking_horizon_is_422_naming_it(
        shop_up: RunningShop, check_in: int, check_out: int, field: str) -> None:
    with shop_up.client(shop_up.user_token) as client:
        r = client.post("/reservations", json={"room_id": 1, "check_in": _day(check_in),
                                               "check_out": _day(check_out)})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == field
    assert "booking horizon" in problem["detail"]
    assert _day(0) in problem["detail"] and _day(364) in problem["detail"]


def test_the_last_night_of_the_horizon_can_be_booked(shop_up: RunningShop) -> None:
    with shop_up.client(shop_up.user_token) as client:
        r = client.post("/reservations", json={"room_id": 1, "check_in": _day(363),
                                               "check_out": _day(365)})
    assert r.status_code == 201, r.text
