"""The OpenAPI document tells a new user everything they need, and only what is true."""

from __future__ import annotations

from typing import Any

import httpx
from tests.integration.api.conftest import RunningShop


def _spec(shop: RunningShop) -> dict[str, Any]:
    spec: dict[str, Any] = httpx.get(f"{shop.url}/openapi.json", timeout=10).json()
    return spec


def test_the_auth_endpoints_and_jwks_are_documented(shop_up: RunningShop) -> None:
    paths = _spec(shop_up)["paths"]
    token = paths["/auth/token"]["post"]
    assert set(token["requestBody"]["content"]) == {"application/x-www-form-urlencoded",
                                                     "application/json"}
    assert {"200", "400", "401", "429"} <= set(token["responses"])
    assert "post" in paths["/auth/refresh"] and "post" in paths["/auth/revoke"]
    assert "get" in paths["/.well-known/jwks.json"]


def test_an_oauth2_password_flow_scheme_covers_the_protected_operations(
        shop_up: RunningShop) -> None:
    spec = _spec(shop_up)
    flow = spec["components"]["securitySchemes"]["oauth2"]["flows"]["password"]
    assert flow["tokenUrl"] == "/auth/token" and flow["refreshUrl"] == "/auth/refresh"
    assert set(flow["scopes"]) == {"shop:read", "shop:write", "shop:admin"}
    place = spec["paths"]["/orders"]["post"]
    assert {"oauth2": ["shop:write"]} in place["security"]


def test_swagger_uis_authorize_form_gets_a_token(shop_up: RunningShop) -> None:
    """What Swagger UI's password-flow dialog sends: a form with grant_type and scope."""
    password = (shop_up.data_dir / "demo-password").read_text().strip()
    r = httpx.post(f"{shop_up.url}/auth/token", timeout=10, data={
        "grant_type": "password", "username": "demo", "password": password,
        "scope": "shop:read shop:write"})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


def test_every_problem_member_sent_is_in_the_problem_schema(shop_up: RunningShop) -> None:
    spec = _spec(shop_up)
    members = set(spec["components"]["schemas"]["ShopProblem"]["properties"])
    assert {"type", "title", "status", "detail", "reason", "field", "retryable"} <= members
    ref = spec["paths"]["/orders"]["post"]["responses"]["409"]["content"][
        "application/problem+json"]["schema"]["$ref"]
    assert ref.endswith("/ShopProblem")
    with shop_up.client(shop_up.user_token) as client:
        sent = [
            client.get("/orders/999999"),                                    # 404
            client.get("/orders/0"),                                         # 422
            client.post("/orders", json={"lines": [{"product_id": 8,
                                                    "quantity": 1000}]}),    # 409 sold out
            client.post("/products", json={"sku": "X-1", "name": "x",
                                           "price_cents": 1}),               # 403
            httpx.get(f"{shop_up.url}/orders", timeout=10),                  # 401 (auth)
            httpx.post(f"{shop_up.url}/auth/token", json={}, timeout=10),    # 400 (auth)
        ]
    for r in sent:
        assert r.headers["content-type"] == "application/problem+json", r.text
        body = r.json()
        assert set(body) <= members, (r.status_code, set(body) - members)
        assert body["reason"] and body["type"].startswith("https://")
    statuses = [r.status_code for r in sent]
    assert statuses == [404, 422, 409, 403, 401, 400]
