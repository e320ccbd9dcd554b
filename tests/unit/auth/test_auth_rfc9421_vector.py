"""RFC 9421 Appendix B.2.5 (hmac-sha256) with the B.1.5 shared secret, byte for byte."""

from __future__ import annotations

import base64

import pytest

from bazaar.auth import SignatureError, SignaturePolicy, SignedRequest, sign, signature_base, verify

# RFC 9421 B.1.5 "test-shared-secret".
SECRET = base64.b64decode(
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==")
# RFC 9421 B.2: the test request (POST /foo?param=Value&Pet=dog to example.com).
HEADERS = {
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7B"
                      "NNyealdVLvRwEmTHWXvJwew==:",
    "content-length": "18",
}
BODY = b'{"hello": "world"}'
SIGNATURE_INPUT = ('sig-b25=("date" "@authority" "content-type")'
                   ';created=1618884473;keyid="test-shared-secret"')
SIGNATURE = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"
# B.2.5's signature base (RFC 8792 line wrapping undone).
BASE = (b'"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
        b'"@authority": example.com\n'
        b'"content-type": application/json\n'
        b'"@signature-params": ("date" "@authority" "content-type")'
        b';created=1618884473;keyid="test-shared-secret"')


def _request(**extra: str) -> SignedRequest:
    return SignedRequest(method="POST", scheme="https", authority="example.com", path="/foo",
                         query="param=Value&Pet=dog", headers={**HEADERS, **extra})


def test_signature_base_matches_the_rfc_byte_for_byte() -> None:
    params = SIGNATURE_INPUT.split("=", 1)[1]
    assert signature_base(["date", "@authority", "content-type"], params, _request()) == BASE


def test_signing_reproduces_the_rfc_signature() -> None:
    sig_input, sig = sign(_request(), keyid="test-shared-secret", secret=SECRET,
                          components=["date", "@authority", "content-type"],
                          created=1618884473, label="sig-b25")
    assert sig_input == SIGNATURE_INPUT
    assert sig == SIGNATURE


def test_the_rfc_signature_verifies() -> None:
    req = _request(**{"signature-input": SIGNATURE_INPUT, "signature": SIGNATURE})
    result = verify(req, BODY, lambda keyid: [SECRET] if keyid == "test-shared-secret" else None,
                    policy=SignaturePolicy.permissive(), now=1618884473)
    assert result.keyid == "test-shared-secret"
    assert result.label == "sig-b25"
    assert result.components == ("date", "@authority", "content-type")


def test_the_rfc_content_digest_matches_the_rfc_body() -> None:
    from bazaar.auth import verify_content_digest

    verify_content_digest(HEADERS["content-digest"], BODY)
    with pytest.raises(SignatureError) as info:
        verify_content_digest(HEADERS["content-digest"], BODY + b" ")
    assert info.value.reason == "digest-mismatch"


def test_one_flipped_bit_of_the_rfc_signature_is_refused() -> None:
    mac = bytearray(base64.b64decode("pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8="))
    mac[0] ^= 1
    bad = f"sig-b25=:{base64.b64encode(bytes(mac)).decode()}:"
    req = _request(**{"signature-input": SIGNATURE_INPUT, "signature": bad})
    with pytest.raises(SignatureError) as info:
        verify(req, None, lambda k: [SECRET], policy=SignaturePolicy.permissive(), now=1618884473)
    assert info.value.reason == "bad-signature"
