"""The shop's API with bazaar.cache wired in: cached reads, invalidation, the Bloom guard, and
the engagement endpoints on Redis structures, for memory:// and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from bazaar import bootstrap, localservers
from bazaar.config import Settings

#: user id → the Authorization header to act as that user (filled by the fixture's login).
_BEARER: dict[int, dict[str, str]] = {}


@pytest.fixture(params=["memory", "redis", "memcached"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, int]]:
    if request.param == "memory":
        url = "memory://"
    else:
        server: localservers.LocalServer = request.getfixturevalue(f"{request.param}_server")
        url = server.url
        # Each test has a fresh database: start from an empty cache too (a Redis database of
        # our own, so other components' keys on the shared test server are left alone).
        if request.param == "redis":
            import redis

            url = f"redis://{server.host}:{server.port}/7"
            redis.Redis.from_url(url).flushdb()
        else:
            from pymemcache.client.base import Client

            Client((server.host, server.port)).flush_all()
    runtime = bootstrap.build(Settings(data_dir=tmp_path, cache_url=url))
    bootstrap.migrate_database(runtime)
    seeded = bootstrap.seed(runtime)
    admin = seeded.demo_user_id
    with TestClient(bootstrap.build_app(runtime)) as client:
        token = client.post("/auth/token", json={"username": "demo",
                                                 "password": seeded.demo_password})
        _BEARER[admin] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield client, admin
    runtime.close()


def _stats(client: TestClient, admin: int) -> dict[str, int]:
    response = client.get("/cache/stats", headers=_BEARER[admin])
    assert response.status_code == 200, response.text
    products: dict[str, int] = response.json()["products"]
    return products


def test_reads_are_cached_and_impossible_ids_never_reach_the_database(
        api: tuple[TestClient, int]) -> None:
    client, admin = api
    me = _BEARER[admin]
    first = client.get("/products/1", headers=me)
    assert first.status_code == 200
    assert client.get("/products/1", headers=me).json() == first.json()
    before = _stats(client, admin)
    assert before["hits"] >= 1
    for bad in range(1_000_000, 1_000_200):
        assert client.get(f"/products/{bad}", headers=me).status_code == 404
    after = _stats(client, admin)
    assert after["bloom_rejections"] - before["bloom_rejections"] >= 195
    assert after["database_queries"] - before["database_queries"] <= 5


def test_writes_invalidate_and_new_products_pass_the_guard(api: tuple[TestClient, int]) -> None:
    client, admin = api
    me = _BEARER[admin]
    stock = client.get("/products/1", headers=me).json()["stock"]
    restocked = client.post("/products/1/restock", json={"quantity": 5}, headers=me)
    assert restocked.status_code == 200, restocked.text
    assert client.get("/products/1", headers=me).json()["stock"] == stock + 5
    created = client.post("/products", json={"sku": "NEW-1", "name": "New", "price_cents": 100,
                                             "stock": 1}, headers=me)
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    assert client.get(f"/products/{new_id}", headers=me).json()["sku"] == "NEW-1"


def test_engagement_endpoints(api: tuple[TestClient, int]) -> None:
    client, admin = api
    me = _BEARER[admin]
    for _ in range(3):
        assert client.post("/products/1/views", headers=me).status_code == 200
    counters = client.post("/products/1/clicks", headers=me).json()
    assert (counters["views"], counters["clicks"]) == (3, 1)
    assert client.post("/products/999999/views", headers=me).status_code == 404
    assert client.post("/products/1/commenters", headers=me).json()["first_comment"] is True
    assert client.post("/products/1/commenters", headers=me).json()["first_comment"] is False
    listed = client.get("/products/1/commenters", headers=me).json()
    assert [c["user_id"] for c in listed] == [admin]
    assert client.post("/users/me/logins", headers=me).json()["first_today"] is True
    today = datetime.now(UTC).date().isoformat()
    actives = client.get(f"/stats/daily-actives?days={today}", headers=me).json()
    assert actives["active_on_every_day"] == 1
    both = client.get(f"/stats/daily-actives?days={today},2020-01-01", headers=me).json()
    assert both["active_on_every_day"] == 0
    bad = client.get("/stats/daily-actives?days=yesterday", headers=me)
    assert bad.status_code == 422


def test_the_api_serves_from_the_database_while_redis_is_down(tmp_path: Path) -> None:
    with localservers.redis() as server:
        url = server.url
    runtime = bootstrap.build(Settings(data_dir=tmp_path, cache_url=url))
    bootstrap.migrate_database(runtime)
    seeded = bootstrap.seed(runtime)
    admin = seeded.demo_user_id
    with TestClient(bootstrap.build_app(runtime)) as client:
        token = client.post("/auth/token", json={"username": "demo",
                                                 "password": seeded.demo_password})
        me = _BEARER[admin] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        assert client.get("/products/1", headers=me).status_code == 200
        created = client.post("/products", json={"sku": "DOWN-1", "name": "n",
                                                 "price_cents": 1, "stock": 1}, headers=me)
        assert created.status_code == 201, created.text
        new_id = created.json()["id"]
        assert client.get(f"/products/{new_id}", headers=me).status_code == 200
        assert client.get("/products/999999", headers=me).status_code == 404
        assert _stats(client, admin)["backend_errors"] >= 1
    runtime.close()
