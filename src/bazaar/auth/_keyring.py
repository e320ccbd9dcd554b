"""JWT signing keys (Ed25519), sealed at rest, rotated by ``kid``.

The newest key signs. Older keys stay published in the JWKS, and keep verifying, until every
token they signed has expired (``retired_at + token lifetime``).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, insert, select, update

from bazaar.auth._crypto import MasterKey
from bazaar.auth._tables import signing_keys

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _aad(kid: str) -> str:
    return f"bazaar-jwt-key|{kid}"


class SigningKeys:
    """The keyring: the current private key, and every public key that may still verify."""

    def __init__(self, engine: Engine, master_key: MasterKey, *, token_lifetime: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._master = master_key
        self._lifetime = token_lifetime
        self._clock = clock
        self._current: tuple[str, Ed25519PrivateKey] | None = None
        self._public: dict[str, Ed25519PublicKey] = {}
        self._loaded_at = 0.0

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        """The (kid, key) that signs new tokens; made on first use if none exists."""
        if self._current is None:
            self._load()
            if self._current is None:
                self.rotate()
        assert self._current is not None
        return self._current

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid``; reloads (at most once a second) when unknown, so a
        rotation made by another process is picked up."""
        key = self._public.get(kid)
        if key is None and self._clock() - self._loaded_at > 1.0:
            self._load()
            key = self._public.get(kid)
        return key

    def rotate(self) -> str:
        """Make a new signing key; the previous one retires but keeps verifying."""
        now = self._clock()
        kid = f"{int(now)}-{secrets.token_hex(4)}"
        private = Ed25519PrivateKey.generate()
        raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw_public), "kid": kid,
               "alg": ALGORITHM, "use": "sig"}
        raw_private = private.private_bytes(serialization.Encoding.Raw,
                                            serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
        with self._engine.begin() as conn:
            conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None))
                         .values(retired_at=now))
            conn.execute(insert(signing_keys).values(
                kid=kid, algorithm=ALGORITHM, private_key=self._master.seal(raw_private, _aad(kid)),
                public_jwk=json.dumps(jwk), created_at=now))
        self._load()
        return kid

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set: every key that may still have valid tokens out there."""
        self.current()  # a fresh server publishes the key it is about to sign with
        with self._engine.connect() as conn:
            rows = conn.execute(select(signing_keys.c.public_jwk, signing_keys.c.retired_at)
                                .order_by(signing_keys.c.created_at.desc())).all()
        cutoff = self._clock() - self._lifetime
        return {"keys": [json.loads(r.public_jwk) for r in rows
                         if r.retired_at is None or r.retired_at > cutoff]}

    def _load(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(select(signing_keys).order_by(signing_keys.c.created_at)).all()
        cutoff = self._clock() - self._lifetime
        public: dict[str, Ed25519PublicKey] = {}
        current: tuple[str, Ed25519PrivateKey] | None = None
        for r in rows:
            if r.retired_at is not None and r.retired_at <= cutoff:
                continue
            x = json.loads(r.public_jwk)["x"]
            public[r.kid] = Ed25519PublicKey.from_public_bytes(
                base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
            if r.retired_at is None:
                raw = self._master.open(r.private_key, _aad(r.kid))
                current = (r.kid, Ed25519PrivateKey.from_private_bytes(raw))
        self._public = public
        self._current = current
        self._loaded_at = self._clock()
