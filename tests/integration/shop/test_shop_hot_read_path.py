"""The hot read path (``GET /products/{id}`` from the cache's JSON bytes, before routing)
answers exactly as the full app does, and only when the full app would answer 200."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.testclient import TestClient

from bazaar import bootstrap
from bazaar.api import create_app
from bazaar.api.principal import SCOPE_KEY
from bazaar.config import Settings
from bazaar.shop.adapters import SqlCatalogQueries
from bazaar.shop.adapters.guarded_reads import GuardedCatalog
from bazaar.shop.services import DirectReader, NoInvalidation, ProductView


@dataclass(frozen=True)
class _Caller:
    kind: str = "user"
    id: str = "1"
    scopes: frozenset[str] = field(default_factory=frozenset)


@pytest.fixture
def shop_app(tmp_path: Path) -> Iterator[tuple[TestClient, bootstrap.Runtime, dict[str, str]]]:
    runtime = bootstrap.build(Settings(data_dir=tmp_path, cache_url="memory://"))
    bootstrap.migrate_database(runtime)
    seeded = bootstrap.seed(runtime)
    with TestClient(bootstrap.build_app(runtime)) as client:
        token = client.post("/auth/token", json={"username": "demo",
                                                 "password": seeded.demo_password})
        yield client, runtime, {"Authorization": f"Bearer {token.json()['access_token']}"}
    runtime.close()


def _hits(runtime: bootstrap.Runtime) -> int:
    reader = runtime.shop.catalog_reader
    assert isinstance(reader, GuardedCatalog)
    return reader.metrics["products"].hits


def test_a_cached_product_is_sent_as_the_full_app_sends_it(
        shop_app: tuple[TestClient, bootstrap.Runtime, dict[str, str]]) -> None:
    client, runtime, me = shop_app
    first = client.get("/products/1", headers=me)  # a miss: the full app answers
    hits = _hits(runtime)
    second = client.get("/products/1", headers=me)  # a hit: the hot path answers
    assert _hits(runtime) == hits + 1
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert second.headers["content-length"] == str(len(second.content))
    view = msgspec.json.decode(second.content, type=ProductView)
    assert msgspec.json.encode(view) == second.content
    # The same validator both ways, and a 304 from the hot path for a client that has it.
    assert second.headers["etag"] == first.headers["etag"]
    hits = _hits(runtime)
    again = client.get("/products/1", headers={**me, "If-None-Match": second.headers["etag"]})
    assert _hits(runtime) == hits + 1  # answered from the cache's bytes
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == second.headers["etag"]
    # Leading zeros name the same product, as the route's int converter reads them.
    assert client.get("/products/0001", headers=me).content == first.content


def test_a_write_is_seen_at_once(
        shop_app: tuple[TestClient, bootstrap.Runtime, dict[str, str]]) -> None:
    client, _, me = shop_app
    stock = client.get("/products/1", headers=me).json()["stock"]
    client.get("/products/1", headers=me)
    assert client.post("/products/1/restock", json={"quantity": 3}, headers=me
                       ).status_code == 200
    assert client.get("/products/1", headers=me).json()["stock"] == stock + 3
    assert client.get("/products/1", headers=me).json()["stock"] == stock + 3


def test_refusals_and_odd_ids_take_the_full_path(
        shop_app: tuple[TestClient, bootstrap.Runtime, dict[str, str]]) -> None:
    client, _, me = shop_app
    client.get("/products/1", headers=me)  # cached now
    refused = client.get("/products/1")
    assert refused.status_code == 401 and refused.json()["reason"] == "missing-credentials"
    bad = client.get("/products/1", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    missing = client.get("/products/999999", headers=me)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    huge = client.get("/products/" + "9" * 300, headers=me)
    assert huge.status_code in (404, 422), huge.text
    slash = client.get("/products/1/", headers=me, follow_redirects=False)
    assert slash.status_code == 307  # Starlette's redirect to the canonical path, as before
    assert client.head("/products/1", headers=me).status_code == 200


def test_a_caller_without_the_read_scope_is_refused_even_when_cached(tmp_path: Path) -> None:
    runtime = bootstrap.build(Settings(data_dir=tmp_path, cache_url="memory://"))
    bootstrap.migrate_database(runtime)
    bootstrap.seed(runtime)
    caller: list[_Caller] = [_Caller(scopes=frozenset({"shop:read"}))]

    def identity(inner: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope[SCOPE_KEY] = caller[0]
            await inner(scope, receive, send)
        return app

    app = create_app(runtime.shop, identity=identity,
                     health=bootstrap.health_check(runtime.engine))
    with TestClient(app) as client:
        assert client.get("/products/1").status_code == 200
        assert client.get("/products/1").status_code == 200  # served hot
        caller[0] = _Caller(scopes=frozenset({"shop:write"}))
        refused = client.get("/products/1")
        assert refused.status_code == 403, refused.text
    runtime.close()


def test_uncached_reads_answer_from_the_loop_as_the_full_app_would(tmp_path: Path) -> None:
    """With no cache (``DirectReader``), every read is a point query on the event loop, sent
    by the hot path: the same body, validator and 304 as the cached path, every write seen
    at once, and anything but a found product still answered by the full app."""
    runtime = bootstrap.build(Settings(data_dir=tmp_path, cache_url="memory://"))
    bootstrap.migrate_database(runtime)
    seeded = bootstrap.seed(runtime)
    with TestClient(bootstrap.build_app(runtime)) as cached_client:
        token = cached_client.post("/auth/token", json={"username": "demo",
                                                        "password": seeded.demo_password})
        me = {"Authorization": f"Bearer {token.json()['access_token']}"}
        cached = cached_client.get("/products/1", headers=me)
    queries = SqlCatalogQueries(runtime.engine)
    runtime.shop.queries = queries
    runtime.shop.catalog_reader = DirectReader(queries)
    runtime.shop.invalidation = NoInvalidation()
    with TestClient(bootstrap.build_app(runtime)) as client:
        first = client.get("/products/1", headers=me)
        assert first.status_code == 200 and first.content == cached.content
        assert first.headers["etag"] == cached.headers["etag"]
        assert first.headers["content-type"] == "application/json"
        again = client.get("/products/1", headers={**me, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        stock = first.json()["stock"]
        assert client.post("/products/1/restock", json={"quantity": 2}, headers=me
                           ).status_code == 200
        assert client.get("/products/1", headers=me).json()["stock"] == stock + 2
        missing = client.get("/products/999999999999", headers=me)  # past int4 on PostgreSQL
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert client.get("/products/1").status_code == 401
    queries.close()
    runtime.close()
