"""RFC 9421 HTTP Message Signatures with ``hmac-sha256``: signature base, signing, verifying.

Pure code: no sockets, no clock unless you pass none, no storage. The verifier takes a
:class:`SignedRequest` (what the server knows: method, the configured public authority, the raw
path and query, the headers) and a key resolver, and either returns who signed or raises
:class:`SignatureError` with a reason. Replay (``nonce``) is the caller's next step, because a
nonce may only be remembered once the signature is known to be good.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from bazaar.auth._digest import content_digest, verify_content_digest
from bazaar.auth._errors import SignatureError
from bazaar.auth._sfv import parse_signature, parse_signature_input, serialize_string

ALGORITHM = "hmac-sha256"
#: What our clients cover, and what the server requires by default (plus content-type if sent).
DEFAULT_COMPONENTS: tuple[str, ...] = ("@method", "@authority", "@path", "@query", "content-digest")
_DEFAULT_PORTS = {"http": 80, "https": 443}

KeyResolver = Callable[[str], Sequence[bytes] | None]
"""keyid → the app's active secrets (at most a few, tried in turn), or None if unknown."""


class SignedRequest(NamedTuple):
    """The parts of a request a signature can cover, as the server sees them.

    ``authority`` and ``scheme`` come from the configured public origin, not from ``Host``
    (proxies rewrite it); ``path`` and ``query`` are raw, as sent. ``headers`` maps lowercase
    names to values, repeated fields already joined with ``", "``.
    """

    method: str
    scheme: str
    authority: str
    path: str
    query: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """What the verifier insists on. Times are in seconds."""

    required_components: frozenset[str] = frozenset(DEFAULT_COMPONENTS)
    #: Also require ``content-type`` to be covered whenever the request carries one.
    require_content_type: bool = True
    require_created: bool = True
    require_nonce: bool = True
    max_age: float = 300.0
    #: How far in the future ``created`` may be (clocks differ a little).
    future_skew: float = 5.0

    @classmethod
    def permissive(cls) -> SignaturePolicy:
        """Check the signature itself (and age, if ``created`` is present): for test vectors."""
        return cls(required_components=frozenset(), require_content_type=False,
                   require_created=False, require_nonce=False, max_age=float("inf"),
                   future_skew=float("inf"))


class VerifiedSignature(NamedTuple):
    """Who signed, and with which parameters."""

    keyid: str
    label: str
    created: int | None
    nonce: str | None
    components: tuple[str, ...]
    key_index: int = 0


def authority_of(scheme: str, host: str, port: int | None) -> str:
    """``@authority``: lowercase host, the port only when it is not the scheme's default."""
    host = host.lower()
    if port is None or _DEFAULT_PORTS.get(scheme.lower()) == port:
        return host
    return f"{host}:{port}"


def _derived(name: str, req: SignedRequest) -> str:
    if name == "@method":
        return req.method
    if name == "@authority":
        return req.authority
    if name == "@path":
        return req.path or "/"
    if name == "@query":
        return "?" + req.query
    if name == "@scheme":
        return req.scheme
    if name == "@target-uri":
        q = "?" + req.query if req.query else ""
        return f"{req.scheme}://{req.authority}{req.path or '/'}{q}"
    if name == "@request-target":
        return (req.path or "/") + ("?" + req.query if req.query else "")
    raise SignatureError("unsupported-component", f"derived component {name!r} is not supported")


def signature_base(components: Sequence[str], params_text: str, req: SignedRequest) -> bytes:
    """The RFC 9421 section 2.5 signature base: one line per component, then the parameters.

    Component names must already be lowercase (the parser only accepts lowercase ones)."""
    headers = req.headers
    lines = []
    for name in components:
        if name[0] == "@":
            value = _derived(name, req)
        else:
            found = headers.get(name)
            if found is None:
                raise SignatureError("missing-component", f"covered header {name!r} is absent")
            value = found
        lines.append(f'"{name}": {value}\n')
    lines.append(f'"@signature-params": {params_text}')
    try:
        return "".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise SignatureError("malformed-component", "covered values must be ASCII") from exc


def signature_params(components: Sequence[str], *, created: int | None, keyid: str,
                     nonce: str | None = None, expires: int | None = None,
                     alg: bool = False) -> str:
    """Serialise the inner list and parameters the way :func:`parse_signature_input` reads them."""
    text = "(" + " ".join(serialize_string(c) for c in components) + ")"
    if created is not None:
        text += f";created={created}"
    if expires is not None:
        text += f";expires={expires}"
    text += f";keyid={serialize_string(keyid)}"
    if nonce is not None:
        text += f";nonce={serialize_string(nonce)}"
    if alg:
        text += f';alg="{ALGORITHM}"'
    return text


def sign(req: SignedRequest, *, keyid: str, secret: bytes, components: Sequence[str],
         created: int | None, nonce: str | None = None, expires: int | None = None,
         label: str = "sig1", alg: bool = False) -> tuple[str, str]:
    """Sign ``req``; return the ``Signature-Input`` and ``Signature`` header values."""
    for value in req.headers.values():
        if "\n" in value or "\r" in value:
            raise ValueError("header values must not contain line breaks")
    params = signature_params(components, created=created, keyid=keyid, nonce=nonce,
                              expires=expires, alg=alg)
    mac = hmac.digest(secret, signature_base(components, params, req), hashlib.sha256)
    return f"{label}={params}", f"{label}=:{base64.b64encode(mac).decode()}:"


def sign_request(method: str, url: str, headers: Mapping[str, str], body: bytes, *,
                 keyid: str, secret: bytes, created: int | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """Everything a client adds to sign a request: ``Content-Digest``, ``Signature-Input``,
    ``Signature``. Covers method, authority, path, query, content-digest, and content-type when
    the request has one; ``created`` defaults to now and ``nonce`` to 128 random bits."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise ValueError("sign_request needs an absolute URL")
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    lower["content-digest"] = content_digest(body)
    components = list(DEFAULT_COMPONENTS)
    if "content-type" in lower:
        components.insert(4, "content-type")
    req = SignedRequest(method=method.upper(), scheme=parts.scheme.lower(),
                        authority=authority_of(parts.scheme, parts.hostname, parts.port),
                        path=parts.path or "/", query=parts.query, headers=lower)
    sig_input, sig = sign(req, keyid=keyid, secret=secret, components=components,
                          created=int(time.time()) if created is None else created,
                          nonce=secrets.token_urlsafe(16) if nonce is None else nonce)
    return {"Content-Digest": lower["content-digest"], "Signature-Input": sig_input,
            "Signature": sig}


def verify(req: SignedRequest, body: bytes | None, keys: KeyResolver, *,
           policy: SignaturePolicy = SignaturePolicy(), now: float | None = None
           ) -> VerifiedSignature:
    """Verify the request's one ``hmac-sha256`` signature; raise :class:`SignatureError`.

    ``body`` is the raw body bytes (checked against a covered ``Content-Digest``); pass None
    only where the body is out of scope (the RFC's own vectors).
    """
    headers = req.headers
    raw_input = headers.get("signature-input")
    raw_sig = headers.get("signature")
    if raw_input is None or raw_sig is None:
        raise SignatureError("missing-signature", "Signature and Signature-Input are required")
    si = parse_signature_input(raw_input)
    mac = parse_signature(raw_sig, si.label)
    if si.alg is not None and si.alg != ALGORITHM:
        raise SignatureError("unsupported-algorithm", "only hmac-sha256 is accepted")
    if si.keyid is None:
        raise SignatureError("missing-keyid", "the keyid parameter is required")
    t = time.time() if now is None else now
    if si.created is None:
        if policy.require_created:
            raise SignatureError("missing-created", "the created parameter is required")
    else:
        if si.created - t > policy.future_skew:
            raise SignatureError("not-yet-valid", "created is in the future")
        if t - si.created > policy.max_age:
            raise SignatureError("expired", "the signature is older than the allowed window")
    if si.expires is not None and si.expires < t - policy.future_skew:
        raise SignatureError("expired", "the signature's expires time has passed")
    if si.nonce is None and policy.require_nonce:
        raise SignatureError("missing-nonce", "the nonce parameter is required")
    covered = si.components
    if not policy.required_components.issubset(covered):
        missing = sorted(policy.required_components.difference(covered))
        raise SignatureError("missing-component", f"the signature must cover {missing[0]!r}")
    if policy.require_content_type and "content-type" in headers and "content-type" not in covered:
        raise SignatureError("missing-component", "the signature must cover 'content-type'")
    secrets_ = keys(si.keyid)
    if not secrets_:
        raise SignatureError("unknown-key", "no active key with that keyid")
    base = signature_base(covered, si.params_text, req)
    index = -1
    for i, secret in enumerate(secrets_):
        # Try every active key (at most two) without an early exit, to keep timing flat.
        if hmac.compare_digest(hmac.digest(secret, base, hashlib.sha256), mac):
            index = i
    if index < 0:
        raise SignatureError("bad-signature", "the signature does not match")
    # The default policy requires content-digest to be covered, which binds the body.
    if body is not None and "content-digest" in covered:
        verify_content_digest(headers["content-digest"], body)
    return VerifiedSignature(keyid=si.keyid, label=si.label, created=si.created, nonce=si.nonce,
                             components=covered, key_index=index)
