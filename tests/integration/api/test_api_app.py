"""The API in-process: 503 when PostgreSQL goes away, the OpenAPI document, public surface."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import bazaar.api
import bazaar.shop.adapters
import bazaar.shop.domain
import bazaar.shop.services
import bazaar.storage
from bazaar import bootstrap, localservers
from bazaar.config import Settings


def test_stopped_postgres_gives_503_with_retry_after(tmp_path: Path) -> None:
    with localservers.postgres() as server:
        settings = Settings(data_dir=tmp_path, database_url=server.url)
        runtime = bootstrap.build(settings)
        bootstrap.migrate_database(runtime)
        demo = bootstrap.seed(runtime).demo_password
        client = TestClient(bootstrap.build_app(runtime), raise_server_exceptions=False)
        login = {"username": "demo", "password": demo}
        token = client.post("/auth/token", json=login).json()["access_token"]
        me = {"Authorization": f"Bearer {token}"}
        assert client.get("/products/1", headers=me).status_code == 200
        server.stop()
        for response in (
            client.get("/products/2", headers=me),  # not cached (product 1 is, and is served)
            client.post("/orders", json={"lines": [{"product_id": 1, "quantity": 1}]},
                        headers={**me, "Idempotency-Key": "k"}),
            client.get("/health"),
            client.post("/auth/token", json=login),  # logging in needs the database
        ):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) > 0
            # A 5xx closes the connection: the client must not reuse one the server got wrong.
            assert response.headers["connection"] == "close"
        runtime.close()


def test_unknown_dev_user_and_openapi(tmp_path: Path) -> None:
    runtime = bootstrap.build(Settings(data_dir=tmp_path))
    bootstrap.migrate_database(runtime)
    client = TestClient(bootstrap.build_app(runtime))
    for bad in ("42", "abc", "-1"):
        response = client.get("/products", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401, bad
    doc = client.get("/openapi.json").json()
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    names = set(doc["components"]["schemas"])
    assert refs and {r.rsplit("/", 1)[1] for r in refs} <= names  # every $ref resolves
    place = doc["paths"]["/orders"]["post"]
    assert place["parameters"][0]["name"] == "Idempotency-Key"
    assert {"201", "409", "422", "503"} <= set(place["responses"])
    assert client.post("/users", content=b"{not json").json()["field"] == "body"
    runtime.close()


@pytest.mark.parametrize("module", [bazaar.api, bazaar.shop.adapters, bazaar.shop.domain,
                                    bazaar.shop.services, bazaar.storage])
def test_public_surface_is_what_all_says(module: object) -> None:
    exported = set(module.__all__)  # type: ignore[attr-defined]
    public = {name for name in dir(module) if not name.startswith("_")
              and not inspect.ismodule(getattr(module, name))}
    assert public <= exported, public - exported  # nothing public by accident
    assert all(hasattr(module, name) for name in exported)


def test_oversized_bodies_are_refused_before_buffering(tmp_path: Path) -> None:
    runtime = bootstrap.build(Settings(data_dir=tmp_path))
    bootstrap.migrate_database(runtime)
    client = TestClient(bootstrap.build_app(runtime))
    huge = b'{"username":"' + b"a" * 100_000 + b'","password":"correct horse"}'
    response = client.post("/users", content=huge)
    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert client.post("/users", json={"username": "alice",
                                       "password": "correct horse"}).status_code == 201
    runtime.close()
