"""``bazaar functions keys``: an access key made, listed (never its secret), verified by the
platform's authenticator for SigV4, revoked; and the Lambda API's name and log-tail shapes."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bazaar.auth import SigV4Request, sign_sigv4
from bazaar.cli import app
from bazaar.functions import LATEST, InvalidRequest, InvocationResult, PlatformAccess
from bazaar.functions._lambda_api import log_tail, parse_target

runner = CliRunner()


def _request(key: str, secret: str, now: float) -> tuple[SigV4Request, bytes]:
    headers = [("Host", "127.0.0.1:8090"),
               ("X-Amz-Date", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)))]
    bare = SigV4Request("POST", "/2015-03-31/functions/f/invocations", "", headers)
    auth = sign_sigv4(bare, b"{}", access_key_id=key, secret=secret.encode(),
                      region="any-1", service="lambda")
    return SigV4Request(bare.method, bare.path, "", [*headers, ("Authorization", auth)]), b"{}"


async def _authenticate(data_dir: Path, key: str, secret: str) -> str:
    access = PlatformAccess(data_dir / "functions")
    try:
        authenticator = access.authenticator()
        request, body = _request(key, secret, time.time())
        parts = await authenticator.sigv4_prepare(request)
        principal = await authenticator.authenticate_sigv4(request, parts, body)
        return f"{principal.id} {principal.scheme} {sorted(principal.scopes)}"
    finally:
        access.close()


def test_create_list_verify_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_DATA_DIR", str(tmp_path))
    made = runner.invoke(app, ["functions", "keys", "create", "ci", "--json"])
    assert made.exit_code == 0, made.output
    issued = json.loads(made.stdout)
    key, secret = issued["access_key_id"], issued["secret_access_key"]
    assert asyncio.run(_authenticate(tmp_path, key, secret)) == f"{key} sigv4 ['functions:admin']"
    listed = runner.invoke(app, ["functions", "keys", "ls", "--json"])
    assert secret not in listed.stdout
    assert [(k["access_key_id"], k["revoked"]) for k in json.loads(listed.stdout)] == [
        (key, False)]
    again = runner.invoke(app, ["functions", "keys", "create", "ci"])
    assert again.exit_code == 2 and "already exists" in again.output
    assert runner.invoke(app, ["functions", "keys", "revoke", key]).exit_code == 0
    from bazaar.auth import SignatureError

    with pytest.raises(SignatureError, match="unknown-access-key"):
        asyncio.run(_authenticate(tmp_path, key, secret))
    assert runner.invoke(app, ["functions", "keys", "revoke", key]).exit_code == 2


def test_function_names_as_lambda_takes_them() -> None:
    assert parse_target("f", None) == parse_target("f", None)
    assert (parse_target("f:live", None).qualifier, parse_target("f", "3").qualifier) == (
        "live", "3")
    arn = parse_target("arn:aws:lambda:eu-1:123456789012:function:f:2", None)
    assert (arn.name, arn.qualifier) == ("f", "2")
    assert parse_target("123456789012:function:f", None).name == "f"
    for bad in ("", "a:b:c:d:e", "arn:aws:lambda:r:1:function:"):
        with pytest.raises(InvalidRequest):
            parse_target(bad, None)
    with pytest.raises(InvalidRequest, match="does not match"):
        parse_target("f:1", "2")


def test_log_tail_is_lambdas_last_4_kb_on_a_character_boundary() -> None:
    result = InvocationResult(request_id="r1", function="f", version=LATEST, payload=b"{}",
                              error=None, duration_ms=1.5, init_duration_ms=30.0,
                              max_memory_mb=20.2, logs="é" * 5000)
    tail = base64.b64decode(log_tail(result, 128))
    assert len(tail) <= 4096
    text = tail.decode()  # no split character
    assert text.endswith("Max Memory Used: 21 MB\tInit Duration: 30.00 ms\t\n")
    short = base64.b64decode(log_tail(InvocationResult(
        request_id="r2", function="f", version="1", payload=b"{}", error=None,
        duration_ms=0.2, logs="hi\n"), 256)).decode()
    assert short.startswith("START RequestId: r2 Version: 1\nhi\nEND RequestId: r2\n")
    assert "Billed Duration: 1 ms\tMemory Size: 256 MB" in short
