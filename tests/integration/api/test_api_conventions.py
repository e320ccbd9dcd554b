"""What a client of a REST API relies on: CORS, ETag/304, Link rel=next, RateLimit headers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from tests.integration.api.conftest import APP_ORIGIN, RunningShop

from bazaar import localservers


def test_a_cors_preflight_is_answered_without_credentials(shop_up: RunningShop) -> None:
    r = httpx.options(f"{shop_up.url}/orders", timeout=10, headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = r.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= set(
        h.strip() for h in allowed.split(","))


def test_a_cors_request_exposes_the_headers_a_client_reads(shop_up: RunningShop) -> None:
    with shop_up.client(shop_up.user_token) as client:
        r = client.get("/products?limit=2", headers={"Origin": APP_ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = r.headers["access-control-expose-headers"].lower()
    assert {"etag", "link", "ratelimit", "ratelimit-policy", "retry-after"} <= set(
        h.strip() for h in exposed.split(","))


def test_an_unknown_origin_gets_no_cors_grant(shop_up: RunningShop) -> None:
    r = httpx.options(f"{shop_up.url}/orders", timeout=10, headers={
        "Origin": "http://evil.example.test", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers


def test_product_reads_carry_an_etag_and_answer_304_when_unchanged(
        shop_up: RunningShop) -> None:
    with shop_up.client(shop_up.admin_token) as client:
        first = client.get("/products/2")            # a miss: the cold path
        second = client.get("/products/2")           # now cached: the hot path
        assert first.status_code == second.status_code == 200
        tag = first.headers["etag"]
        assert re.fullmatch(r'"[0-9a-f]{24}"', tag)
        assert second.headers["etag"] == tag
        not_modified = client.get("/products/2", headers={"If-None-Match": tag})
        assert not_modified.status_code == 304
        assert not_modified.content == b"" and not_modified.headers["etag"] == tag
        assert client.get("/products/2", headers={
            "If-None-Match": f'"nope", W/{tag}'}).status_code == 304
        # A change makes a new representation, and the old tag no longer matches.
        assert client.post("/products/2/restock", json={"quantity": 1}).status_code == 200
        changed = client.get("/products/2", headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag
        page = client.get("/products?limit=3")
        assert client.get("/products?limit=3", headers={
            "If-None-Match": page.headers["etag"]}).status_code == 304


def test_pages_link_to_the_next_page_as_the_body_cursor_does(shop_up: RunningShop) -> None:
    with shop_up.client(shop_up.user_token) as client:
        seen: list[int] = []
        url = "/products?limit=3&in_stock=true"
        for _ in range(10):  # 8 demo products and a few more: well under 10 pages
            r = client.get(url)
            body = r.json()
            seen += [p["id"] for p in body["items"]]
            if body["next_after"] is None:
                assert "link" not in r.headers
                break
            match = re.fullmatch(r'<([^>]+)>; rel="next"', r.headers["link"])
            assert match, r.headers["link"]
            url = match.group(1)
            assert f"after={body['next_after']}" in url and "in_stock=true" in url
        assert seen == sorted(set(seen)) and len(seen) >= 8
        orders = client.get("/orders?limit=1")
        assert orders.status_code == 200


def test_ratelimit_headers_beside_retry_after(shop_up: RunningShop,
                                             tmp_path: Path) -> None:
    with shop_up.client(shop_up.user_token) as client:
        ok = client.get("/products/1")
    assert re.fullmatch(r'"principal";q=\d+;w=\d+', ok.headers["ratelimit-policy"])
    # Its own shop, whose failed-login limiter says 429 after 3 wrong passwords (the shared
    # one must keep letting this address log in).
    env = {"BAZAAR_FAILED_AUTH_BURST": "3", "BAZAAR_FAILED_AUTH_PER_S": "0.1"}
    with localservers.bazaar_up(tmp_path / "data", "--no-services", env=env) as shop, \
            httpx.Client(base_url=shop.url, timeout=10) as anonymous:
        for _ in range(20):
            r = anonymous.post("/auth/token", json={"username": "demo", "password": "wrong-1"})
            if r.status_code == 429:
                break
        assert r.status_code == 429, r.text
    wait = r.headers["retry-after"]
    assert r.headers["ratelimit-policy"] == '"failed-logins";q=3;w=30'
    assert r.headers["ratelimit"] == f'"failed-logins";r=0;t={wait}'
