"""``bazaar up`` as deployed: a signing-key rotation made while it runs, checked by an outside
JWKS verifier (joserfc) over HTTP; and the failed-login limiter against a client that lies in
``X-Forwarded-For`` — with no proxy configured, and behind a configured one.

Each test speaks from its own loopback source address (all of 127.0.0.0/8 reaches the server),
so the per-address buckets of one test do not leak into another; 127.0.0.1 only where the
attack needs it (uvicorn's own default believes the header from there).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt as pyjwt
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from bazaar.localservers import bazaar_up
from bazaar.processes import eventually

PASSWORD = "correct horse battery"
# Little refill during a test: the counts below are the bursts.
LIMITS = {"BAZAAR_FAILED_AUTH_PER_S": "0.001", "BAZAAR_FAILED_AUTH_BURST": "20",
          "BAZAAR_FAILED_LOGIN_PER_ACCOUNT_PER_S": "0.001",
          "BAZAAR_FAILED_LOGIN_PER_ACCOUNT_BURST": "10"}


def _client(url: str, source: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=source))


def _login(http: httpx.Client, username: str, password: str,
           forwarded: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return http.post("/auth/token", json={"username": username, "password": password},
                     headers=headers)


def _audited_clients(data: Path, reason: str) -> list[str]:
    """The ``client`` of each password decision with ``reason`` in the audit trail."""
    path = data / "auth" / "audit.log"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line]
    return [r["client"] for r in rows if r.get("scheme") == "password"
            and r.get("reason") == reason]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("auth-keys-clients") / "data"
    with bazaar_up(data, "--no-services", env=LIMITS) as running:
        with _client(running.url, "127.0.0.1") as http:
            for name in ("ann", "victim", "bystander"):
                made = http.post("/users", json={"username": name, "password": PASSWORD})
                assert made.status_code == 201, made.text
        yield running.url, data
        assert running.interrupt() == 0


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The shop behind a proxy at 127.0.0.1 (as nginx in the scale-out topology)."""
    data = tmp_path_factory.mktemp("auth-proxied") / "data"
    with bazaar_up(data, "--no-services",
                   env={**LIMITS, "BAZAAR_TRUSTED_PROXIES": "127.0.0.1"}) as running:
        yield running.url, data
        assert running.interrupt() == 0


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
def test_a_running_shop_signs_with_a_key_rotated_by_the_cli(shop: tuple[str, Path]) -> None:
    url, data = shop
    with _client(url, "127.0.0.4") as http:
        before = _login(http, "ann", PASSWORD)
        assert before.status_code == 200, before.text
        old_token = before.json()["access_token"]
        old_kid = pyjwt.get_unverified_header(old_token)["kid"]
        rotated = subprocess.run(
            [sys.executable, "-m", "bazaar.cli", "auth", "keys", "rotate", "--publish-ahead",
             "3", "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.split("signing with kid")[1].split()[0]
        assert new_kid != old_kid
        # Published before it signs: a verifier caching this JWKS already has the new key.
        early = http.get("/.well-known/jwks.json").json()
        assert {k["kid"] for k in early["keys"]} >= {old_kid, new_kid}

        def signed_with_new_key() -> str | None:
            token: str = _login(http, "ann", PASSWORD).json()["access_token"]
            return token if pyjwt.get_unverified_header(token)["kid"] == new_kid else None

        # Without a restart: once its time comes, within the keyring's recheck (1 s).
        new_token = eventually(signed_with_new_key, what="a token signed with the new kid")
        published = http.get("/.well-known/jwks.json")
        assert published.status_code == 200
        assert {k["kid"] for k in published.json()["keys"]} >= {old_kid, new_kid}
        # An independent verifier that knows only the published JWKS, the issuer and the
        # audience accepts the tokens from both sides of the rotation.
        keyset = KeySet.import_key_set(published.json())
        expected = jwt.JWTClaimsRegistry(iss={"essential": True, "value": "bazaar"},
                                         aud={"essential": True, "value": "bazaar-api"})
        for token, kid in ((old_token, old_kid), (new_token, new_kid)):
            decoded = jwt.decode(token, keyset, algorithms=["EdDSA"])
            assert decoded.header["kid"] == kid
            expected.validate(decoded.claims)
            assert http.get("/users/me", headers={"Authorization": f"Bearer {token}"}
                            ).json()["username"] == "ann"


def test_a_rotating_forwarded_for_header_does_not_reset_the_failure_limit(
        shop: tuple[str, Path]) -> None:
    url, data = shop
    source = "127.0.0.1"  # the address uvicorn's own default would trust
    statuses = []
    with _client(url, source) as http:
        for i in range(100):  # a different (unknown) account each time: the address limit
            answer = _login(http, f"guess-{i}", "wrong", forwarded=f"198.51.100.{i + 1}")
            statuses.append(answer.status_code)
        assert statuses[:20] == [401] * 20
        assert statuses[20:] == [429] * 80
        # Blocked, the address stays blocked whatever it claims to be, good password or not.
        spoofed = _login(http, "bystander", PASSWORD, forwarded="203.0.113.77")
        assert spoofed.status_code == 429, spoofed.text
        assert spoofed.json()["reason"] == "too-many-failures"
        assert int(spoofed.headers["retry-after"]) >= 1
    with _client(url, "127.0.0.3") as neighbour:
        assert _login(neighbour, "bystander", PASSWORD).status_code == 200
    # The audit trail names the real peer, never the header's claim.
    clients = eventually(lambda: _audited_clients(data, "invalid-credentials"),
                         what="audited failures")
    assert source in clients and not any(c.startswith("198.51.100.") for c in clients)


def test_failures_from_many_addresses_lock_only_the_account_they_target(
        shop: tuple[str, Path]) -> None:
    url, _ = shop
    statuses = []
    for i in range(15):  # one guess from each of 15 addresses
        with _client(url, f"127.0.1.{i + 1}") as http:
            statuses.append(_login(http, "victim", f"guess {i}").status_code)
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429] * 5
    with _client(url, "127.0.2.1") as fresh:
        locked = _login(fresh, "victim", PASSWORD)  # even the right password, from anywhere
        assert locked.status_code == 429 and locked.json()["reason"] == "too-many-failures"
        assert "account" in locked.json()["detail"]
        assert _login(fresh, "VICTIM ", "another guess").status_code == 429  # same account
        # Everyone else still logs in, from the same addresses too.
        assert _login(fresh, "bystander", PASSWORD).status_code == 200
    with _client(url, "127.0.1.3") as used:
        assert _login(used, "bystander", PASSWORD).status_code == 200


def test_behind_a_configured_proxy_the_client_is_the_right_most_untrusted_hop(
        proxied: tuple[str, Path]) -> None:
    url, data = proxied
    with _client(url, "127.0.0.1") as proxy:  # the trusted proxy, passing clients on
        statuses = [_login(proxy, f"who-{i}", "wrong", forwarded="203.0.113.5").status_code
                    for i in range(21)]
        assert statuses == [401] * 20 + [429]
        # Another client behind the same proxy has its own bucket...
        other = _login(proxy, "who-x", "wrong", forwarded="203.0.113.6")
        assert other.status_code == 401, other.text
        # ...but what a client writes in front of the hop the proxy appended is ignored.
        spoofing = _login(proxy, "who-y", "wrong", forwarded="192.0.2.1, 203.0.113.5")
        assert spoofing.status_code == 429
    with _client(url, "127.0.0.9") as direct:  # not a proxy: its header is not believed
        assert _login(direct, "who-z", "wrong", forwarded="203.0.113.8").status_code == 401

    def seen() -> list[str] | None:
        clients = _audited_clients(data, "invalid-credentials")
        return clients if "127.0.0.9" in clients else None

    clients = eventually(seen, what="the direct client's line in the audit trail")
    assert set(clients) == {"203.0.113.5", "203.0.113.6", "127.0.0.9"}
