"""``bazaar auth`` as a user runs it: real processes, a real data directory."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
from sqlalchemy import create_engine

from bazaar.auth import (
    AccessTokens,
    AppRegistry,
    MasterKey,
    SignatureError,
    SignedRequest,
    SigningKeys,
    install,
    sign_request,
    verify,
)


def _bazaar(data_dir: Path, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bazaar.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120,
                          cwd=data_dir)


def test_create_list_rotate_revoke_and_sign(tmp_path: Path) -> None:
    dd = ["--data-dir", str(tmp_path)]
    created = _bazaar(tmp_path, "auth", "apps", "create", "cli-app", "--scopes",
                      "shop:read", *dd)
    assert created.returncode == 0, created.stderr
    app_id = created.stdout.split("APP ID")[1].split()[0]
    api_key = created.stdout.split("API KEY")[1].split()[0]
    assert app_id.startswith("app_") and api_key.startswith("bzk_")
    assert (tmp_path / "auth" / "master.key").stat().st_mode & 0o777 == 0o600

    duplicate = _bazaar(tmp_path, "auth", "apps", "create", "cli-app", *dd)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr

    url = "http://127.0.0.1:8000/products?limit=5"
    signed = _bazaar(tmp_path, "auth", "sign", "POST", url, "--app-id", app_id,
                     "--data", '{"q": 1}', "--content-type", "application/json",
                     env={"BAZAAR_API_KEY": api_key})
    assert signed.returncode == 0, signed.stderr
    argv = shlex.split(signed.stdout)
    assert argv[:4] == ["curl", "-X", "POST", url]
    headers = {}
    for flag, value in zip(argv[4::2], argv[5::2], strict=False):
        if flag == "-H":
            name, _, v = value.partition(": ")
            headers[name.lower()] = v
    assert api_key not in signed.stdout

    engine = create_engine(f"sqlite:///{tmp_path / 'bazaar.db'}")
    master = MasterKey.load_or_create(tmp_path / "auth" / "master.key")
    registry = AppRegistry(engine, master)
    parts = urlsplit(url)
    req = SignedRequest(method="POST", scheme="http", authority="127.0.0.1:8000",
                        path=parts.path, query=parts.query, headers=headers)
    assert verify(req, b'{"q": 1}', registry.secrets).keyid == app_id

    rotated = _bazaar(tmp_path, "auth", "apps", "rotate", app_id, *dd)
    assert rotated.returncode == 0 and "k2" in rotated.stdout
    second_key = rotated.stdout.split("API KEY")[1].split()[0]
    third = _bazaar(tmp_path, "auth", "apps", "rotate", app_id, *dd)
    assert third.returncode == 2 and "revoke" in third.stderr
    revoked = _bazaar(tmp_path, "auth", "apps", "revoke", app_id, "--key", "k1", *dd)
    assert revoked.returncode == 0
    # The effect: the first key no longer verifies, the second does.
    after = AppRegistry(engine, master)  # a server started now (no cached keys)
    with pytest.raises(SignatureError) as info:
        verify(req, b'{"q": 1}', after.secrets)
    assert info.value.reason == "bad-signature"
    resigned = {k.lower(): v for k, v in sign_request(
        "POST", url, {"content-type": "application/json"}, b'{"q": 1}', keyid=app_id,
        secret=second_key.encode()).items()}
    assert verify(req._replace(headers={"content-type": "application/json", **resigned}),
                  b'{"q": 1}', after.secrets).keyid == app_id
    listing = _bazaar(tmp_path, "auth", "apps", "ls", *dd)
    assert "cli-app" in listing.stdout and "k2" in listing.stdout
    assert app_id in listing.stdout.splitlines()[1].split("\t")  # piped: whole, not cut
    listed = json.loads(_bazaar(tmp_path, "auth", "apps", "ls", "--json", *dd).stdout)
    assert [(a["app_id"], a["active_keys"]) for a in listed] == [(app_id, ["k2"])]


def test_keys_rotate_makes_new_tokens_carry_the_new_kid(tmp_path: Path) -> None:
    dd = ["--data-dir", str(tmp_path)]
    engine = create_engine(f"sqlite:///{tmp_path / 'bazaar.db'}")
    install(engine)
    master = MasterKey.load_or_create(tmp_path / "auth" / "master.key")
    keys = SigningKeys(engine, master, token_lifetime=900, recheck_s=0)  # a running server
    tokens = AccessTokens(keys)
    before, _ = tokens.issue("1", ["shop:read"], "f")
    old_kid = jwt.get_unverified_header(before)["kid"]

    # A routine rotation publishes the new key first: verifiers that cache the JWKS (60 s)
    # hold it before the first token it signs.
    routine = _bazaar(tmp_path, "auth", "keys", "rotate", *dd)
    assert routine.returncode == 0, routine.stderr
    pending_kid = routine.stdout.split("signing with kid")[1].split()[0]
    assert "(in 60 s)" in routine.stdout
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, pending_kid}
    still, _ = tokens.issue("1", ["shop:read"], "f")
    assert jwt.get_unverified_header(still)["kid"] == old_kid

    # A compromised key is replaced at once.
    rotated = _bazaar(tmp_path, "auth", "keys", "rotate", "--publish-ahead", "0", *dd)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split("signing with kid")[1].split()[0]
    assert new_kid not in (old_kid, pending_kid) and "(at once)" in rotated.stdout
    after, _ = tokens.issue("1", ["shop:read"], "f")
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    # The pending key never signed; it stays published as long as a retired key would.
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, pending_kid, new_kid}
    assert tokens.verify(before).sub == tokens.verify(after).sub == "1"
    bad = _bazaar(tmp_path, "auth", "keys", "rotate", "--publish-ahead", "-1", *dd)
    assert bad.returncode == 2
    engine.dispose()
