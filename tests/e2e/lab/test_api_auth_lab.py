"""``bazaar lab run api-auth --quick`` end to end: each case gets the status and reason the
explainer promises, the replay counts are exact, and the files are written."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from bazaar import lab

EXPECTED = {  # case -> (HTTP status, reason)
    "untampered GET /products/1?fields=all": (200, "-"),
    "untampered POST /products (body)": (201, "-"),
    "method changed (POST -> PUT)": (401, "bad-signature"),
    "path changed (/products/1 -> /products/2)": (401, "bad-signature"),
    "query changed (fields=all -> fields=none)": (401, "bad-signature"),
    "body changed (price 990 -> 1)": (401, "digest-mismatch"),
    "covered header changed (content-type)": (401, "bad-signature"),
    "timestamp changed (created + 1 s)": (401, "bad-signature"),
    "signed 10 minutes ago (valid signature)": (401, "expired"),
    "signed 1 minute in the future": (401, "not-yet-valid"),
    "signature from a wrong key": (401, "bad-signature"),
    "captured request, first use": (200, "-"),
    "captured request, replayed": (401, "replayed"),
    "fresh access token": (200, "-"),
    "used after expiry (issued 1 h ago, lifetime 15 min)": (401, "expired"),
    "alg: none": (401, "wrong-algorithm"),
    "HS256 keyed with the public key (alg confusion)": (401, "wrong-algorithm"),
    "payload changed (sub -> admin)": (401, "bad-signature"),
    "used right after logout (revoked, not expired)": (401, "revoked"),
    "refresh after logout": (401, "revoked"),
}


def test_the_api_auth_lab_holds(tmp_path: Path) -> None:
    result = lab.run("api-auth", quick=True, out_dir=tmp_path,
                     console=Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    http_rows = {row[1]: (row[2], row[3]) for row in result["rows"] if row[2] != "-"}
    assert http_rows == EXPECTED
    outcomes = {row[1]: row[4] for row in result["rows"]}
    assert outcomes["sent 100x + a day later, WITHOUT created+nonce"] == "accepted"
    assert outcomes["sent 100x + a day later, WITH created+nonce"] == "refused"
    assert all(row[-1] is True for row in result["rows"])
    refused = sum(1 for status, _ in EXPECTED.values() if status == 401)
    assert result["verdict"].startswith(f"Held: all {refused + 1} tampered"), result["verdict"]

    written = json.loads((tmp_path / "api-auth.json").read_text())
    summary = written["summary"]
    # The same captured request, 100 times and a day later: every copy accepted without
    # created + nonce, exactly one with them.
    assert summary["replay"] == {"without created+nonce": 101, "with created+nonce": 1,
                                 "attempts": 101}
    assert set(summary["costs_us"]) == {
        "raw HMAC-SHA256 of the signature base", "HMAC: our RFC 9421 verify",
        "HMAC: http-message-signatures verify", "Bearer: PyJWT EdDSA verify (uncached)",
        "Bearer: our verify (claims cached)", "Login: argon2id verify (OWASP)"}
    assert all(v > 0 for v in summary["costs_us"].values())
    assert set(summary["login_ms"]) == {"existing user, wrong password", "no such user"}
    assert written["rows"] == result["rows"]
    assert (tmp_path / "api-auth.png").stat().st_size > 10_000
