"""bazaar.auth wired into the shop: every endpoint but registration, login and health needs a
Bearer token or an RFC 9421 signature — in-process over the whole operations table, and over
HTTP against ``bazaar up`` with an app made by the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from bazaar import bootstrap
from bazaar.auth import HttpxSigner
from bazaar.config import Settings
from bazaar.localservers import bazaar_up

PUBLIC = {("POST", "/users"), ("GET", "/health"), ("GET", "/"),  # GET /: the index
          # logging in and the keys that verify tokens (documented operations since the
          # OpenAPI document lists them)
          ("POST", "/auth/token"), ("POST", "/auth/refresh"), ("POST", "/auth/revoke"),
          ("GET", "/.well-known/jwks.json")}


def test_every_shop_operation_but_registration_and_health_needs_auth(tmp_path: Path) -> None:
    # Dozens of deliberate failures from one client: lift the failed-auth limit for this test.
    runtime = bootstrap.build(Settings(data_dir=tmp_path, failed_auth_burst=1000))
    bootstrap.migrate_database(runtime)
    app = bootstrap.build_app(runtime)
    client = TestClient(app, raise_server_exceptions=False)
    operations = app.state.operations
    assert len(operations) > 10
    for op in operations:
        path = re.sub(r"\{[^}]+\}", "1", op.path)
        response = client.request(op.method, path, json={})
        if (op.method, op.path) in PUBLIC:
            assert response.status_code != 401, (op.method, op.path)
            continue
        assert response.status_code == 401, (op.method, op.path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["reason"] == "missing-credentials"
        forged = client.request(op.method, path, json={},
                                headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401 and forged.json()["reason"] == "malformed-token"
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.json()["keys"]
    assert client.post("/auth/token", json={"username": "x", "password": "y"}
                       ).json()["reason"] == "invalid-credentials"
    runtime.close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("bazaar-up-auth") / "data"
    with bazaar_up(data, "--no-services") as running:
        yield running.url, data
        assert running.interrupt() == 0
        out = running.output()
        assert "auth: POST" in out and "X-Bazaar-Dev-User" not in out


def test_an_app_signs_its_way_into_the_shop(shop: tuple[str, Path]) -> None:
    url, data = shop
    made = subprocess.run([sys.executable, "-m", "bazaar.cli", "auth", "apps", "create",
                           "catalogue-sync", "--scopes", "shop:read", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    app_id = made.stdout.split("APP ID")[1].split()[0]
    api_key = made.stdout.split("API KEY")[1].split()[0]
    with httpx.Client(base_url=url, auth=HttpxSigner(app_id, api_key)) as client:
        product = client.get("/products/1")
        assert product.status_code == 200, product.text
        assert client.get("/products", params={"limit": 2}).json()["items"]
        # An app is not a shop user: it can read, not order.
        order = client.post("/orders", json={"lines": [{"product_id": 1, "quantity": 1}]},
                            headers={"Idempotency-Key": "app-1"})
        assert order.status_code == 403, order.text
    unsigned = httpx.get(f"{url}/products/1")
    assert unsigned.status_code == 401 and unsigned.json()["reason"] == "missing-credentials"
    request = next(HttpxSigner(app_id, api_key).auth_flow(httpx.Request("GET",
                                                                        f"{url}/products/1")))
    with httpx.Client() as raw:
        assert raw.send(request).status_code == 200
        replay = raw.send(request)
        assert replay.status_code == 401 and replay.json()["reason"] == "replayed"
    # `bazaar auth sign` prints a curl command; curl itself is the client.
    assert shutil.which("curl"), "this test runs curl: apt-get install curl"
    printed = subprocess.run(
        [sys.executable, "-m", "bazaar.cli", "auth", "sign", "POST",
         f"{url}/products?limit=1", "--app-id", app_id, "--data", "{}",
         "--content-type", "application/json"],
        capture_output=True, text=True, timeout=60, env={**os.environ,
                                                         "BAZAAR_API_KEY": api_key})
    assert printed.returncode == 0, printed.stderr
    argv = shlex.split(printed.stdout)
    sent = subprocess.run([*argv, "-s", "-o", "/dev/null", "-w", "%{http_code}"],
                          capture_output=True, text=True, timeout=60)
    # Authenticated, then refused by the shop: POST /products needs shop:admin.
    assert sent.stdout == "403", sent.stdout
    # The audit trail: one JSON line per decision, under the data directory, nothing secret.
    lines = (data / "auth" / "audit.log").read_text().splitlines()
    decisions = [json.loads(line) for line in lines]
    assert {"allow", "deny"} <= {d["outcome"] for d in decisions}
    assert any(d.get("principal") == app_id and d["scheme"] == "signature" for d in decisions)
    assert api_key not in "\n".join(lines) and "Signature" not in "\n".join(lines)


def test_a_user_logs_in_refreshes_and_logs_out(shop: tuple[str, Path]) -> None:
    url, _ = shop
    http = httpx.Client(base_url=url, timeout=30)
    assert http.post("/users", json={"username": "carol", "password": "correct horse"}
                     ).status_code == 201
    tokens = http.post("/auth/token", json={"username": "carol", "password": "correct horse"})
    assert tokens.status_code == 200, tokens.text
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert http.get("/users/me", headers=bearer).json()["username"] == "carol"
    fresh = http.post("/auth/refresh", json={"refresh_token": tokens.json()["refresh_token"]})
    assert fresh.status_code == 200
    http.post("/auth/revoke", headers=bearer, json={"refresh_token": fresh.json()["refresh_token"]})
    gone = http.get("/users/me", headers=bearer)
    assert gone.status_code == 401 and gone.json()["reason"] == "revoked"
