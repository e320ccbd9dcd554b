"""RFC 9530 ``Content-Digest``: the sha-256 (or sha-512) of the raw body bytes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from bazaar.auth._errors import SignatureError
from bazaar.auth._sfv import parse_content_digest

_HASHES = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}


def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    """The ``Content-Digest`` header value for ``body``, e.g. ``sha-256=:…:``."""
    digest = _HASHES[algorithm](body).digest()
    return f"{algorithm}=:{base64.b64encode(digest).decode()}:"


def _sha256_field(body: bytes) -> bytes:
    return b"sha-256=:" + binascii.b2a_base64(hashlib.sha256(body).digest(), newline=False) + b":"


def verify_content_digest(header: str, body: bytes) -> None:
    """Check every known digest in ``header`` against ``body``; at least one must be known."""
    header = header.strip(" \t")
    if hmac.compare_digest(header.encode("latin-1"), _sha256_field(body)):
        return  # the common case: exactly our own serialisation of the sha-256
    members = parse_content_digest(header)
    known = [alg for alg in members if alg in _HASHES]
    if not known:
        raise SignatureError("malformed-digest", "Content-Digest has no sha-256 or sha-512 member")
    for alg in known:
        if not hmac.compare_digest(_HASHES[alg](body).digest(), members[alg]):
            raise SignatureError("digest-mismatch", "the body does not match Content-Digest")
