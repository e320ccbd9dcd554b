"""The server side of SCRAM (RFC 5802, with SHA-256 per RFC 7677 and SHA-512 as Kafka uses).

Two client messages, two answers::

    client-first  n,,n=user,r=cnonce            -> server-first  r=cnonce+snonce,s=salt,i=iter
    client-final  c=biws,r=cnonce+snonce,p=proof -> server-final  v=signature

The server keeps only StoredKey = H(ClientKey) and ServerKey per user; it checks the proof
by recovering ClientKey = proof XOR HMAC(StoredKey, AuthMessage) and hashing it. Every
malformed message, wrong nonce, channel-binding request or wrong proof raises
:class:`ScramError` with a reason fit for the broker's log (never the password).

librdkafka before 2.6.1 (Debian's kcat links 2.0.2) echoes the nonce with its client part
twice (``r=cnonce+cnonce+snonce``; librdkafka PR 4895). Kafka 3.8.1-3.9 accept that (the
nonce must end with the server's), Kafka 4 does not; we accept exactly that form too, so
the server nonce is still checked in full, and say so in ``docs/broker.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

HASHES = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MAX_MESSAGE = 4096  # bytes: longer client messages are refused unread


class ScramError(Exception):
    """A client message we refuse; the exchange is over."""


@dataclass(frozen=True, slots=True)
class Keys:
    """What the server stores for one user and mechanism (RFC 5802 section 3)."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def salted_password(hash_name: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """Hi(password, salt, i): PBKDF2 with HMAC of the mechanism's hash."""
    return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations)


def keys_from_salted(hash_name: str, salted: bytes, salt: bytes, iterations: int) -> Keys:
    client_key = hmac.digest(salted, b"Client Key", hash_name)
    return Keys(salt, iterations, hashlib.new(hash_name, client_key).digest(),
                hmac.digest(salted, b"Server Key", hash_name))


def _attributes(message: str, expected: tuple[str, ...]) -> dict[str, str]:
    """Split ``a=x,b=y`` and check the attribute names come in the expected order (extra
    attributes after them are refused: RFC 5802 reserves ``m`` and we speak no extension)."""
    parts = message.split(",")
    if len(parts) != len(expected):
        raise ScramError(f"expected attributes {','.join(expected)}, got {len(parts)} parts")
    out: dict[str, str] = {}
    for part, name in zip(parts, expected, strict=True):
        if len(part) < 2 or part[1] != "=" or part[0] != name:
            raise ScramError(f"expected attribute {name}=")
        out[name] = part[2:]
    return out


def _printable_nonce(nonce: str) -> bool:
    return bool(nonce) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in nonce)


def _saslname(name: str) -> str:
    """Decode ``=2C`` and ``=3D``; any other ``=`` escape is malformed (RFC 5802 5.1)."""
    out, i = [], 0
    while i < len(name):
        if name[i] == "=":
            code = name[i + 1:i + 3]
            if code not in ("2C", "3D"):
                raise ScramError("bad escape in user name")
            out.append("," if code == "2C" else "=")
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


class ScramServer:
    """One SCRAM exchange. ``lookup(user)`` gives that user's :class:`Keys` or None; an
    unknown user is refused at the final message like a wrong password (no user probing:
    the server-first message is built from a fake salt then)."""

    def __init__(self, mechanism: str, lookup: Callable[[str], Keys | None],
                 nonce: str | None = None, fake_salt_key: bytes = b"") -> None:
        if mechanism not in HASHES:
            raise ScramError(f"unsupported mechanism {mechanism}")
        self.mechanism = mechanism
        self.hash = HASHES[mechanism]
        self.lookup = lookup
        self.server_nonce = nonce or secrets.token_urlsafe(24)
        self.fake_salt_key = fake_salt_key or secrets.token_bytes(16)
        self.user: str | None = None
        self._keys: Keys | None = None
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._client_nonce = ""
        self.done = False

    @staticmethod
    def _text(message: bytes) -> str:
        if len(message) > MAX_MESSAGE:
            raise ScramError(f"message of {len(message)} bytes (limit {MAX_MESSAGE})")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScramError("message is not UTF-8") from exc

    def first(self, message: bytes) -> bytes:
        """The client-first message in, the server-first message out."""
        if self._server_first:
            raise ScramError("client-first message sent twice")
        text = self._text(message)
        if text.startswith(("p=", "y,")):
            raise ScramError("channel binding is not supported")
        if not text.startswith("n,"):
            raise ScramError("client-first message must start with the gs2 header n,")
        rest = text[2:]
        authzid, sep, bare = rest.partition(",")
        if not sep:
            raise ScramError("client-first message has no bare part")
        if authzid and not authzid.startswith("a="):
            raise ScramError("bad authorization identity")
        parts = bare.split(",")
        if len(parts) > 2 and parts[2].startswith("m="):
            raise ScramError("mandatory extension not supported")
        attrs = _attributes(",".join(parts[:2]), ("n", "r"))
        # Kafka clients may append extensions (KIP-84: tokenauth=...): we accept none
        if len(parts) > 2:
            raise ScramError("SCRAM extensions are not supported")
        user = _saslname(attrs["n"])
        if not user:
            raise ScramError("empty user name")
        if authzid and _saslname(authzid[2:]) != user:
            raise ScramError("authorization identity differs from the user")
        if not _printable_nonce(attrs["r"]):
            raise ScramError("client nonce empty or not printable")
        self.user = user
        self._keys = self.lookup(user)
        salt, iterations = ((self._keys.salt, self._keys.iterations) if self._keys else
                            (hmac.digest(self.fake_salt_key, user.encode(), "sha256")[:16],
                             4096))
        self._client_first_bare = bare
        self._client_nonce = attrs["r"]
        self._nonce = attrs["r"] + self.server_nonce
        self._server_first = (f"r={self._nonce},s={base64.b64encode(salt).decode()},"
                              f"i={iterations}")
        return self._server_first.encode()

    def final(self, message: bytes) -> bytes:
        """The client-final message in, the server-final message (``v=``) out, or
        :class:`ScramError` (wrong nonce, wrong proof, unknown user, malformed)."""
        if not self._server_first or self.done:
            raise ScramError("client-final message out of order")
        self.done = True
        text = self._text(message)
        attrs = _attributes(text, ("c", "r", "p"))
        if attrs["c"] not in ("biws", "eSws"):  # base64 of "n,," or "y,,"
            raise ScramError("channel binding data does not match the gs2 header")
        if attrs["r"] not in (self._nonce, self._client_nonce + self._nonce):
            raise ScramError("nonce does not match the server's")
        try:
            proof = base64.b64decode(attrs["p"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ScramError("proof is not base64") from exc
        without_proof = text[:text.rindex(",p=")]
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}"
        keys = self._keys
        if keys is None:
            raise ScramError(f"unknown user {self.user!r}")
        signature = hmac.digest(keys.stored_key, auth_message.encode(), self.hash)
        if len(proof) != len(signature):
            raise ScramError("proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self.hash, client_key).digest(),
                                   keys.stored_key):
            raise ScramError(f"wrong password for {self.user!r}")
        server_signature = hmac.digest(keys.server_key, auth_message.encode(), self.hash)
        return b"v=" + base64.b64encode(server_signature)
