"""SigV4 against botocore's own signer (header and presigned URL), and the refusal matrix:
tampering, wrong secret, unknown key, skew, expiry, payload hash, malformed parts, replay."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bazaar.auth import SignatureError, SigV4Policy, SigV4Request, parse_sigv4, verify_sigv4

KEY_ID, SECRET = "app_0123456789abcdef", "bzk_not-a-real-secret-but-long-enough"
KEYS = {KEY_ID: (SECRET.encode(),)}.get
POLICY = SigV4Policy(service="lambda")
URL = "http://127.0.0.1:8090/2015-03-31/functions/hello/invocations?Qualifier=live"


def _received(aws: AWSRequest) -> SigV4Request:
    """What a server receives from botocore's request: urllib3 adds Host from the URL."""
    parts = urlsplit(aws.url)
    headers = [(k, v if isinstance(v, str) else v.decode()) for k, v in aws.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    return SigV4Request(aws.method, parts.path, parts.query, headers)


def _signed(body: bytes = b'{"name": "ada"}', *, method: str = "POST", url: str = URL,
            headers: dict[str, str] | None = None, secret: str = SECRET,
            region: str = "eu-local-1", presign: int | None = None) -> SigV4Request:
    aws = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    creds = Credentials(KEY_ID, secret)
    if presign is None:
        SigV4Auth(creds, "lambda", region).add_auth(aws)
    else:
        SigV4QueryAuth(creds, "lambda", region, expires=presign).add_auth(aws)
    return _received(aws)


def test_botocore_signed_requests_verify() -> None:
    for body in (b"", b'{"name": "ada"}', bytes(range(256)) * 40):
        got = verify_sigv4(_signed(body), body, KEYS, POLICY)
        assert (got.access_key_id, got.region, got.service) == (KEY_ID, "eu-local-1", "lambda")


def test_paths_and_queries_needing_encoding_verify() -> None:
    url = "http://127.0.0.1:8090/2015-03-31/functions/a%20b/invocations?Qualifier=%24LATEST&x=%2B%20"
    assert verify_sigv4(_signed(b"{}", url=url), b"{}", KEYS, POLICY).key_index == 0


def test_presigned_url_verifies_until_it_expires() -> None:
    request = _signed(b"", method="GET", presign=60)
    assert parse_sigv4(request).presigned
    assert verify_sigv4(request, b"", KEYS, POLICY).presigned
    with pytest.raises(SignatureError, match="expired"):
        verify_sigv4(request, b"", KEYS, POLICY, now=time.time() + 120)


def test_second_key_of_a_rotated_app_verifies_with_its_index() -> None:
    keys = {KEY_ID: (b"the newer key", SECRET.encode())}.get
    assert verify_sigv4(_signed(), b'{"name": "ada"}', keys, POLICY).key_index == 1


def test_replay_within_the_window_is_accepted_as_on_aws() -> None:
    """SigV4 has no nonce: AWS accepts the identical request again within its 5 minutes."""
    request = _signed()
    first = verify_sigv4(request, b'{"name": "ada"}', KEYS, POLICY)
    again = verify_sigv4(request, b'{"name": "ada"}', KEYS, POLICY, now=time.time() + 299)
    assert first == again
    with pytest.raises(SignatureError, match="request-time-too-skewed"):
        verify_sigv4(request, b'{"name": "ada"}', KEYS, POLICY, now=time.time() + 301)


@pytest.mark.parametrize("shift", [-301.0, 301.0])
def test_a_skewed_clock_is_refused(shift: float) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_sigv4(_signed(), b'{"name": "ada"}', KEYS, POLICY, now=time.time() + shift)
    assert caught.value.reason == "request-time-too-skewed"
    assert "Signature expired" in caught.value.detail or "not yet current" in caught.value.detail


def test_tampering_is_refused() -> None:
    body = b'{"name": "ada"}'
    request = _signed(body)
    changed = [
        SigV4Request(request.method, request.path.replace("hello", "other"), request.query,
                     request.headers),
        SigV4Request(request.method, request.path, "Qualifier=1", request.headers),
        SigV4Request("PUT", request.path, request.query, request.headers),
        SigV4Request(request.method, request.path, request.query,
                     [(k, "127.0.0.1:9999") if k == "Host" else (k, v)
                      for k, v in request.headers]),
    ]
    for bad in changed:
        with pytest.raises(SignatureError, match="bad-signature"):
            verify_sigv4(bad, body, KEYS, POLICY)
    with pytest.raises(SignatureError, match="bad-signature"):
        verify_sigv4(request, b'{"name": "bob"}', KEYS, POLICY)
    with pytest.raises(SignatureError, match="bad-signature"):
        verify_sigv4(_signed(body, secret="a guess"), body, KEYS, POLICY)


def test_unknown_key_wrong_service_and_region() -> None:
    with pytest.raises(SignatureError, match="unknown-access-key"):
        verify_sigv4(_signed(), b'{"name": "ada"}', {}.get, POLICY)
    with pytest.raises(SignatureError, match="sigv4-wrong-service"):
        verify_sigv4(_signed(), b'{"name": "ada"}', KEYS, SigV4Policy(service="s3"))
    with pytest.raises(SignatureError, match="sigv4-wrong-region"):
        verify_sigv4(_signed(), b'{"name": "ada"}', KEYS,
                     SigV4Policy(service="lambda", region="us-east-1"))


def test_content_sha256_header_is_checked_or_unsigned() -> None:
    body = b'{"name": "ada"}'
    right = hashlib.sha256(body).hexdigest()
    request = _signed(body, headers={"X-Amz-Content-SHA256": right})
    assert verify_sigv4(request, body, KEYS, POLICY).key_index == 0
    with pytest.raises(SignatureError, match="payload-hash-mismatch"):
        verify_sigv4(request, b"other", KEYS, POLICY)
    unsigned = _signed(body, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    # The body is not covered: a different one still verifies (the client chose so).
    assert verify_sigv4(unsigned, b"anything", KEYS, POLICY).key_index == 0


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request",
    "AWS4-HMAC-SHA256 Credential=k/2026/r/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4, SignedHeaders=host;x-amz-date, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request, SignedHeaders=x-amz-date, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request, SignedHeaders=x-amz-date;"
    "host, Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=" + "Z" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20250101/r/lambda/aws4_request, SignedHeaders=host;x-amz-date, "
    "Signature=" + "0" * 64,
    "AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request, SignedHeaders=host;x-amz-date;"
    "x-missing, Signature=" + "0" * 64,
])
def test_malformed_authorization_is_refused_with_a_reason(authorization: str) -> None:
    request = SigV4Request("POST", "/", "", [("Host", "h"), ("X-Amz-Date", "20260101T000000Z"),
                                             ("Authorization", authorization)])
    with pytest.raises(SignatureError) as caught:
        verify_sigv4(request, b"", {"k": (b"s",)}.get, POLICY, now=1767225600.0)
    assert caught.value.reason == "sigv4-malformed"


def test_missing_or_bad_date_and_bad_presigned_query() -> None:
    auth = ("AWS4-HMAC-SHA256 Credential=k/20260101/r/lambda/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64)
    for date in (None, "2026-01-01", "20261301T000000Z"):
        headers = [("Host", "h"), ("Authorization", auth)]
        if date:
            headers.append(("X-Amz-Date", date))
        with pytest.raises(SignatureError):
            verify_sigv4(SigV4Request("GET", "/", "", headers), b"", {"k": (b"s",)}.get,
                         POLICY)
    for query in ("X-Amz-Algorithm=HMAC", "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                  "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=k%2F20260101%2Fr%2Flambda"
                  "%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=999999999"
                  "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64):
        with pytest.raises(SignatureError, match="sigv4-malformed"):
            verify_sigv4(SigV4Request("GET", "/", query, [("Host", "h")]), b"",
                         {"k": (b"s",)}.get, POLICY, now=1767225600.0)


@pytest.mark.parametrize("date", ["20260230T000000Z", "20260101T240000Z", "20260101T006100Z"])
def test_an_impossible_date_is_malformed_not_a_crash(date: str) -> None:
    """X-Amz-Date is read by its fields: a day or time that does not exist is refused."""
    auth = (f"AWS4-HMAC-SHA256 Credential=k/{date[:8]}/r/lambda/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64)
    headers = [("Host", "h"), ("Authorization", auth), ("X-Amz-Date", date)]
    with pytest.raises(SignatureError, match="sigv4-malformed"):
        verify_sigv4(SigV4Request("GET", "/", "", headers), b"", {"k": (b"s",)}.get, POLICY,
                     now=1767225600.0)
