"""The whole shop as a user runs it: ``bazaar up`` in a subprocess, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from bazaar.localservers import bazaar_up


@pytest.fixture(scope="module")
def shop_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("bazaar-up") / "data"
    # The whole of `bazaar up`, services included (on free ports).
    with bazaar_up(data) as running:
        yield running.url
        # Ctrl-C stops it cleanly.
        assert running.interrupt() == 0, running.output()
        out = running.output()
        assert f"API:  {running.url}/" in out and f"docs: {running.url}/docs" in out
        assert "stopped." in out
        assert (data / "bazaar.db").exists()
        assert oct((data / "demo-password").stat().st_mode & 0o777) == "0o600"


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["type"] and body["title"]
    return body


def _login(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Log in through bazaar.auth; the Bearer header to act as that user."""
    tokens = http.post("/auth/token", json={"username": username, "password": password})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_a_customer_session(shop_url: str) -> None:
    http = httpx.Client(base_url=shop_url, timeout=30)
    # register, then log in and act as that user with a Bearer token
    alice = http.post("/users", json={"username": "alice", "password": "correct horse"})
    assert alice.status_code == 201, alice.text
    dup = _problem(http.post("/users", json={"username": "alice", "password": "12345678"}), 409)
    assert "taken" in str(dup["detail"])
    me = _login(http, "alice", "correct horse")
    assert http.get("/users/me", headers=me).json()["username"] == "alice"
    _problem(http.get("/products"), 401)

    # browse the demo catalogue
    page = http.get("/products", params={"limit": 3}, headers=me).json()
    assert len(page["items"]) == 3 and page["next_after"] == page["items"][-1]["id"]
    mug = http.get("/products", params={"q": "mug"}, headers=me).json()["items"][0]
    assert http.get(f"/products/{mug['id']}", headers=me).json() == mug

    # order with an idempotency key: the retry gets the same order back
    order = {"lines": [{"product_id": mug["id"], "quantity": 2}]}
    first = http.post("/orders", json=order, headers={**me, "Idempotency-Key": "o-1"})
    assert first.status_code == 201, first.text
    retry = http.post("/orders", json=order, headers={**me, "Idempotency-Key": "o-1"})
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    changed = {"lines": [{"product_id": mug["id"], "quantity": 3}]}
    body = _problem(http.post("/orders", json=changed, headers={**me, "Idempotency-Key": "o-1"}),
                    422)
    assert body["field"] == "Idempotency-Key"
    stock = http.get(f"/products/{mug['id']}", headers=me).json()["stock"]
    assert stock == mug["stock"] - 2  # ordered once

    # cancel returns the stock; a second cancel is a conflict
    order_id = first.json()["id"]
    assert http.post(f"/orders/{order_id}/cancel", headers=me).json()["status"] == "cancelled"
    assert http.get(f"/products/{mug['id']}", headers=me).json()["stock"] == mug["stock"]
    _problem(http.post(f"/orders/{order_id}/cancel", headers=me), 409)
    assert [o["id"] for o in http.get("/orders", headers=me).json()["items"]] == [order_id]

    # problem+json for bad input, unknown things, sold out
    bad = _problem(http.post("/orders", json={"lines": [{"product_id": mug["id"],
                                                         "quantity": "two"}]}, headers=me), 422)
    assert bad["field"] == "lines.0.quantity"
    assert _problem(http.post("/orders", json={"lines": []}, headers=me), 422)["field"] == "lines"
    _problem(http.get("/products/999999", headers=me), 404)
    sold = _problem(http.post("/orders", json={"lines": [{"product_id": mug["id"],
                                                          "quantity": 1000}]}, headers=me), 409)
    assert sold["retryable"] is False
    _problem(http.post("/products", json={"sku": "X-1", "name": "x", "price_cents": 1},
                       headers=me), 403)


def test_rooms_search_reserve_cancel(shop_url: str) -> None:
    http = httpx.Client(base_url=shop_url, timeout=30)
    bob = http.post("/users", json={"username": "bob", "password": "correct horse"}).json()
    me = _login(http, bob["username"], "correct horse")
    check_in = date.today() + timedelta(days=20)
    stay = {"check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=2)).isoformat()}
    found = http.get("/rooms", params={**stay, "rooms": 2}, headers=me).json()
    suite = next(a for a in found if a["room"]["code"] == "STE")
    assert suite["available"] == 2 and suite["nights"] == 2
    booked = http.post("/reservations", json={**stay, "room_id": suite["room"]["id"],
                                               "rooms": 2}, headers=me)
    assert booked.status_code == 201, booked.text
    again = _problem(http.post("/reservations", json={**stay, "room_id": suite["room"]["id"]},
                               headers=me), 409)
    assert again["type"].endswith("/sold-out")  # type: ignore[union-attr]
    codes = [a["room"]["code"] for a in http.get("/rooms", params=stay, headers=me).json()]
    assert "STE" not in codes
    rid = booked.json()["id"]
    assert http.post(f"/reservations/{rid}/cancel", headers=me).json()["status"] == "cancelled"
    codes = [a["room"]["code"] for a in http.get("/rooms", params=stay, headers=me).json()]
    assert "STE" in codes
    bad = _problem(http.get("/rooms", params={**stay, "check_out": "tomorrow"}, headers=me), 422)
    assert bad["field"] == "check_out"


def test_docs_and_openapi(shop_url: str) -> None:
    doc = httpx.get(f"{shop_url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert {"/products/{product_id}", "/orders", "/rooms", "/reservations"} <= set(doc["paths"])
    page = httpx.get(f"{shop_url}/docs").text
    assert "/openapi.json" in page and "/orders/{order_id}/cancel" in page


def test_racing_retries_over_http_order_once(shop_url: str) -> None:
    """Eight copies of one order, same Idempotency-Key, sent at once: one order placed,
    every response carries it, the stock moves once."""
    import threading

    http = httpx.Client(base_url=shop_url, timeout=60)
    assert http.post("/users", json={"username": "carol",
                                     "password": "correct horse"}).status_code == 201
    me = _login(http, "carol", "correct horse")
    tea = http.get("/products", params={"q": "tea"}, headers=me).json()["items"][0]
    order = {"lines": [{"product_id": tea["id"], "quantity": 3}]}
    barrier = threading.Barrier(8)
    responses: list[httpx.Response] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            with httpx.Client(base_url=shop_url, timeout=60) as own:
                barrier.wait(timeout=30)
                responses.append(own.post("/orders", json=order,
                                          headers={**me, "Idempotency-Key": "race-1"}))
        except BaseException as exc:  # a lost request must fail the test, not vanish
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    assert len(responses) == 8, f"only {len(responses)} of 8 responses arrived"
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert http.get(f"/products/{tea['id']}", headers=me).json()["stock"] == tea["stock"] - 3
