"""AWS Signature Version 4 (``AWS4-HMAC-SHA256``): canonical request, string to sign, signing
key, and verification of an ``Authorization`` header or a presigned query (``X-Amz-*``).

Pure code: no sockets, no storage, no clock unless none is passed. What AWS does, checked
against its published test suite and botocore's signer:

* canonical request = method, canonical URI (for services other than S3: dot segments and
  repeated slashes removed, then every byte but ``A-Za-z0-9-._~/`` percent-encoded — the
  already-encoded path is encoded again), canonical query (each name and value decoded, then
  encoded as RFC 3986 unreserved, sorted), the signed headers (lowercase, values trimmed,
  inner runs of spaces collapsed, repeats joined with ``,``), the signed header names, and
  the payload hash;
* string to sign = algorithm, ``X-Amz-Date``, credential scope
  (``date/region/service/aws4_request``), hex SHA-256 of the canonical request;
* signing key = HMAC chain ``"AWS4" + secret`` → date → region → service → ``aws4_request``.

The payload hash is ``x-amz-content-sha256`` when sent (a hex hash that must match the body,
or ``UNSIGNED-PAYLOAD``: the body is then not covered), else the SHA-256 of the body. A
request's time must be within ``max_skew_s`` (5 min) of the server's clock; a presigned URL is
valid from its ``X-Amz-Date`` (less the skew) for ``X-Amz-Expires`` seconds. As on AWS, an
identical request replayed within that window verifies again: SigV4 has no nonce.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from bazaar.auth._errors import SignatureError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600  # AWS's own ceiling for a presigned URL

SecretsOf = Callable[[str], Sequence[bytes] | None]
"""access key id → its active secrets (tried in turn), or None if unknown or revoked."""

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 +Credential=([^,\s]+), *SignedHeaders=([^,\s]+), *Signature=([0-9a-f]{64})")
_DATE_RE = re.compile(r"\d{8}T\d{6}Z")
_HEADER_NAME_RE = re.compile(r"[a-z0-9!#$%&'*+\-.^_`|~]+")
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SigV4Policy:
    """What the verifier accepts: the service (``lambda``), the region (None: any, the
    signer's scope is used), how far the clock may be off, the longest presigned URL."""

    service: str
    region: str | None = None
    max_skew_s: float = 300.0
    max_presign_expires_s: int = MAX_PRESIGN_EXPIRES_S


@dataclass(frozen=True, slots=True)
class SigV4Request:
    """A request as the server received it: the raw (percent-encoded) path, the raw query
    string, and the header fields in order, repeats included."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SigV4Parts:
    """A parsed signature, before it is checked against a secret."""

    access_key_id: str
    date: str  # YYYYMMDD of the scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # YYYYMMDDTHHMMSSZ
    presigned: bool
    expires_s: int | None
    payload_hash: str | None  # x-amz-content-sha256 as sent (header or query)

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True, slots=True)
class VerifiedSigV4:
    """Who signed: the access key id and which of its secrets (0 = the newest)."""

    access_key_id: str
    key_index: int
    region: str
    service: str
    signed_at: float
    presigned: bool


# --- canonical forms ------------------------------------------------------------------------

def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_uri(path: str, *, normalize: bool = True) -> str:
    """The canonical URI of a raw path (S3 passes ``normalize=False``)."""
    if not path:
        return "/"
    if normalize:
        kept: list[str] = []
        for segment in path.split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                if kept:
                    kept.pop()
            else:
                kept.append(segment)
        tail = "/" if path.endswith("/") and kept else ""
        path = "/" + "/".join(kept) + tail
    return quote(path, safe="/~")


def canonical_query(query: str, *, drop: str | None = None) -> str:
    """Every ``name=value`` decoded, re-encoded as RFC 3986 unreserved, sorted (``drop``: a
    name left out, ``X-Amz-Signature`` of a presigned URL)."""
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        name = unquote(name)
        if name == drop:
            continue
        pairs.append((_encode(name), _encode(unquote(value))))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def _query_values(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            values.setdefault(unquote(name), []).append(unquote(value))
    return values


def canonical_headers(headers: Sequence[tuple[str, str]], signed: Sequence[str]) -> str:
    """The signed headers' ``name:value`` lines (values trimmed, runs of spaces collapsed,
    repeats joined with ``,``), each ended by a newline."""
    found: dict[str, list[str]] = {}
    wanted = set(signed)
    for name, value in headers:
        lower = name.lower()
        if lower in wanted:
            found.setdefault(lower, []).append(" ".join(value.split()))
    lines = []
    for name in signed:
        if name not in found:
            raise SignatureError("sigv4-malformed", f"signed header {name!r} is not in the "
                                                    "request")
        lines.append(f"{name}:{','.join(found[name])}\n")
    return "".join(lines)


def canonical_request(request: SigV4Request, signed_headers: Sequence[str], payload_hash: str,
                      *, presigned: bool = False, normalize: bool = True) -> str:
    """The canonical request AWS hashes into the string to sign."""
    return "\n".join((
        request.method.upper(), canonical_uri(request.path, normalize=normalize),
        canonical_query(request.query, drop="X-Amz-Signature" if presigned else None),
        canonical_headers(request.headers, signed_headers), ";".join(signed_headers),
        payload_hash))


def string_to_sign(amz_date: str, scope: str, creq: str) -> str:
    return "\n".join((ALGORITHM, amz_date, scope,
                      hashlib.sha256(creq.encode()).hexdigest()))


_KEY_CACHE: dict[tuple[bytes, str, str, str], bytes] = {}


def signing_key(secret: bytes, date: str, region: str, service: str) -> bytes:
    """The derived key of a day, region and service (cached: it changes once a day)."""
    cache_key = (secret, date, region, service)
    key = _KEY_CACHE.get(cache_key)
    if key is None:
        key = b"AWS4" + secret
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        if len(_KEY_CACHE) >= 4096:
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = key
    return key


def _signature(key: bytes, sts: str) -> str:
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def amz_date_of(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y%m%dT%H%M%SZ")


def _epoch(amz_date: str) -> float:
    """``YYYYMMDDTHHMMSSZ`` (checked by ``_DATE_RE`` first) → epoch seconds; ValueError for
    an impossible date. By the fields, not ``strptime``: that took a quarter of a verify."""
    if not _DATE_RE.fullmatch(amz_date):
        raise ValueError(f"not an X-Amz-Date: {amz_date!r}")
    d = amz_date
    return datetime(int(d[0:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]), int(d[11:13]),
                    int(d[13:15]), tzinfo=UTC).timestamp()


# --- signing (our clients, benchmarks) --------------------------------------------------------

def sign_sigv4(request: SigV4Request, body: bytes, *, access_key_id: str, secret: bytes,
               region: str, service: str, now: float | None = None) -> str:
    """The ``Authorization`` header for ``request``, which must already carry ``Host`` and
    should carry ``X-Amz-Date`` (its time is what is signed; without one, ``now``'s is, and
    the caller must send it). Every header it carries is signed."""
    sent = _header(request.headers, "x-amz-date")
    amz_date = sent.strip() if sent else amz_date_of(time.time() if now is None else now)
    signed = tuple(sorted({name.lower() for name, _ in request.headers}))
    payload = next((v for n, v in request.headers if n.lower() == "x-amz-content-sha256"),
                   hashlib.sha256(body).hexdigest())
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    sts = string_to_sign(amz_date, scope, canonical_request(request, signed, payload))
    signature = _signature(signing_key(secret, amz_date[:8], region, service), sts)
    return (f"{ALGORITHM} Credential={access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}")


# --- verifying --------------------------------------------------------------------------------

def is_sigv4(authorization: str | None, query: str) -> bool:
    """Whether a request claims SigV4: its ``Authorization`` or a presigned query."""
    return ((authorization is not None and authorization.startswith(ALGORITHM))
            or "X-Amz-Algorithm=" in query)


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _credential(text: str) -> tuple[str, str, str, str]:
    parts = text.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise SignatureError("sigv4-malformed", "Credential must be KEY/DATE/REGION/SERVICE/"
                                                "aws4_request")
    key_id, date, region, service = parts[:4]
    if not re.fullmatch(r"\d{8}", date):
        raise SignatureError("sigv4-malformed", "the credential's date must be YYYYMMDD")
    return key_id, date, region, service


def _signed_names(text: str) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if (not all(_HEADER_NAME_RE.fullmatch(n) for n in names) or list(names) != sorted(names)
            or len(set(names)) != len(names)):
        raise SignatureError("sigv4-malformed", "SignedHeaders must be sorted, lowercase, "
                                                "without repeats")
    if "host" not in names:
        raise SignatureError("sigv4-malformed", "the host header must be signed")
    return names


def parse_sigv4(request: SigV4Request) -> SigV4Parts:
    """The signature's parts, or :class:`SignatureError` (``sigv4-malformed``)."""
    authorization = _header(request.headers, "authorization")
    if authorization is not None and authorization.startswith(ALGORITHM):
        found = _AUTH_RE.fullmatch(authorization.strip())
        if found is None:
            raise SignatureError("sigv4-malformed", "Authorization must be AWS4-HMAC-SHA256 "
                                 "Credential=…, SignedHeaders=…, Signature=<64 hex>")
        amz_date = _header(request.headers, "x-amz-date")
        if amz_date is None or not _DATE_RE.fullmatch(amz_date.strip()):
            raise SignatureError("sigv4-malformed", "X-Amz-Date (YYYYMMDDTHHMMSSZ) is missing "
                                                    "or malformed")
        key_id, date, region, service = _credential(found.group(1))
        names = _signed_names(found.group(2))
        signature = found.group(3)
        amz_date = amz_date.strip()
        presigned, expires = False, None
        payload = _header(request.headers, "x-amz-content-sha256")
    else:
        values = _query_values(request.query)

        def one(name: str) -> str:
            got = values.get(name)
            if got is None or len(got) != 1:
                raise SignatureError("sigv4-malformed", f"a presigned URL needs one {name}")
            return got[0]

        if one("X-Amz-Algorithm") != ALGORITHM:
            raise SignatureError("sigv4-malformed", f"X-Amz-Algorithm must be {ALGORITHM}")
        key_id, date, region, service = _credential(one("X-Amz-Credential"))
        names = _signed_names(one("X-Amz-SignedHeaders"))
        signature = one("X-Amz-Signature")
        amz_date = one("X-Amz-Date")
        if not _HEX64_RE.fullmatch(signature) or not _DATE_RE.fullmatch(amz_date):
            raise SignatureError("sigv4-malformed", "X-Amz-Signature or X-Amz-Date is "
                                                    "malformed")
        raw_expires = one("X-Amz-Expires")
        if not raw_expires.isdigit() or len(raw_expires) > 7:
            raise SignatureError("sigv4-malformed", "X-Amz-Expires must be seconds")
        presigned, expires = True, int(raw_expires)
        payload = _header(request.headers, "x-amz-content-sha256")
    if amz_date[:8] != date:
        raise SignatureError("sigv4-malformed", "the credential's date is not X-Amz-Date's")
    if payload is not None:
        payload = payload.strip()
        if payload != UNSIGNED_PAYLOAD and not _HEX64_RE.fullmatch(payload):
            raise SignatureError("sigv4-malformed", "x-amz-content-sha256 must be a hex "
                                                    "SHA-256 or UNSIGNED-PAYLOAD")
    return SigV4Parts(access_key_id=key_id, date=date, region=region, service=service,
                      signed_headers=names, signature=signature, amz_date=amz_date,
                      presigned=presigned, expires_s=expires, payload_hash=payload)


def check_scope_and_time(parts: SigV4Parts, policy: SigV4Policy, now: float) -> float:
    """Service, region and clock, before any body is read; returns the signing time."""
    if parts.service != policy.service:
        raise SignatureError("sigv4-wrong-service", f"signed for service {parts.service!r}, "
                                                    f"this is {policy.service!r}")
    if policy.region is not None and parts.region != policy.region:
        raise SignatureError("sigv4-wrong-region", f"signed for region {parts.region!r}, "
                                                   f"this is {policy.region!r}")
    try:
        signed_at = _epoch(parts.amz_date)
    except ValueError as exc:
        raise SignatureError("sigv4-malformed", "X-Amz-Date is not a date") from exc
    if parts.presigned:
        expires = parts.expires_s or 0
        if not 1 <= expires <= policy.max_presign_expires_s:
            raise SignatureError("sigv4-malformed", "X-Amz-Expires must be 1.."
                                 f"{policy.max_presign_expires_s} seconds")
        if signed_at - policy.max_skew_s > now:
            raise SignatureError("request-time-too-skewed", f"signed at {parts.amz_date}, "
                                 "in the future")
        if now > signed_at + expires:
            raise SignatureError("expired", f"the presigned URL expired at "
                                            f"{amz_date_of(signed_at + expires)}")
    elif abs(now - signed_at) > policy.max_skew_s:
        raise SignatureError("request-time-too-skewed",
                             f"Signature expired: {parts.amz_date} is now earlier than "
                             f"{amz_date_of(now - policy.max_skew_s)} "
                             f"({amz_date_of(now)} - {policy.max_skew_s / 60:g} min.)"
                             if now > signed_at else
                             f"Signature not yet current: {parts.amz_date} is still later "
                             f"than {amz_date_of(now + policy.max_skew_s)} "
                             f"({amz_date_of(now)} + {policy.max_skew_s / 60:g} min.)")
    return signed_at


def verify_sigv4(request: SigV4Request, body: bytes, secrets_of: SecretsOf,
                 policy: SigV4Policy, *, now: float | None = None,
                 parts: SigV4Parts | None = None) -> VerifiedSigV4:
    """Who signed ``request`` (with ``body``), or :class:`SignatureError` with a reason:
    ``sigv4-malformed``, ``unknown-access-key``, ``request-time-too-skewed``, ``expired``,
    ``payload-hash-mismatch``, ``bad-signature``, ``sigv4-wrong-service``/``-region``."""
    when = time.time() if now is None else now
    if parts is None:
        parts = parse_sigv4(request)
    signed_at = check_scope_and_time(parts, policy, when)
    keys = secrets_of(parts.access_key_id)
    if not keys:
        raise SignatureError("unknown-access-key", "The security token included in the "
                                                   "request is invalid.")
    body_hash = hashlib.sha256(body).hexdigest()
    if parts.payload_hash is None:
        candidates = [body_hash, UNSIGNED_PAYLOAD] if parts.presigned else [body_hash]
    elif parts.payload_hash == UNSIGNED_PAYLOAD:
        candidates = [UNSIGNED_PAYLOAD]
    elif hmac.compare_digest(parts.payload_hash, body_hash):
        candidates = [body_hash]
    else:
        raise SignatureError("payload-hash-mismatch", "x-amz-content-sha256 is not the "
                                                      "body's SHA-256")
    for payload in candidates:
        creq = canonical_request(request, parts.signed_headers, payload,
                                 presigned=parts.presigned)
        sts = string_to_sign(parts.amz_date, parts.scope, creq)
        for index, secret in enumerate(keys):
            expected = _signature(signing_key(secret, parts.date, parts.region,
                                              parts.service), sts)
            if hmac.compare_digest(expected, parts.signature):
                return VerifiedSigV4(access_key_id=parts.access_key_id, key_index=index,
                                     region=parts.region, service=parts.service,
                                     signed_at=signed_at, presigned=parts.presigned)
    raise SignatureError("bad-signature", "The request signature we calculated does not "
                                          "match the signature you provided.")
