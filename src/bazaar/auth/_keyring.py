"""JWT signing keys (Ed25519), sealed at rest, rotated by ``kid``.

A key is published in the JWKS from the moment it is made, and signs from its ``created_at``,
which a rotation may put ahead (``publish_ahead_s``): verifiers that cache the JWKS (we serve
it with ``max-age=60``) then hold the new key before the first token it signs. The newest key
whose time has come signs; the one before retires at that moment.

A rotation made by another process (``bazaar auth keys rotate``) is picked up by every running
server within ``recheck_s``: :meth:`SigningKeys.current` looks up the signing key's ``kid``
(one indexed row) at most that often and reloads when it changed. A retired key stays
published, and keeps verifying, until every token it may have signed has expired:
``retired_at + recheck_s`` (the last moment a server may still sign with it) ``+ token
lifetime + leeway``.
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
from sqlalchemy import Engine, insert, or_, select, update

from bazaar.auth._crypto import MasterKey
from bazaar.auth._tables import signing_keys

ALGORITHM = "EdDSA"
#: How long clients may cache the JWKS (``Cache-Control: max-age``), and so how far ahead a
#: routine rotation publishes its key.
JWKS_MAX_AGE_S = 60


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _aad(kid: str) -> str:
    return f"bazaar-jwt-key|{kid}"


def _signing_kid(now: float) -> Any:
    """The key that signs at ``now``: the newest whose time has come and that is not retired."""
    return (select(signing_keys.c.kid)
            .where(signing_keys.c.created_at <= now,
                   or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > now))
            .order_by(signing_keys.c.created_at.desc()).limit(1))


class SigningKeys:
    """The keyring: the current private key, and every public key that may still verify."""

    def __init__(self, engine: Engine, master_key: MasterKey, *, token_lifetime: float,
                 recheck_s: float = 1.0, leeway: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        if recheck_s < 0:
            raise ValueError("recheck_s must be >= 0")
        self._engine = engine
        self._master = master_key
        self._recheck = recheck_s
        #: How long a retired key stays published and verifying.
        self.keep_s = recheck_s + token_lifetime + leeway
        self._clock = clock
        self._current: tuple[str, Ed25519PrivateKey] | None = None
        #: kid -> (public key, until when it verifies: retired_at + keep_s, or forever)
        self._public: dict[str, tuple[Ed25519PublicKey, float]] = {}
        self._loaded_at = 0.0
        self._checked_at = 0.0

    def current(self) -> tuple[str, Ed25519PrivateKey]:
        """The (kid, key) that signs new tokens; made on first use if none exists. Follows a
        rotation made elsewhere within ``recheck_s`` (one indexed lookup at most that often)."""
        now = self._clock()
        if self._current is None:
            self._load()
        elif now - self._checked_at >= self._recheck:
            with self._engine.connect() as conn:
                kid = conn.execute(_signing_kid(now)).scalar()
            self._checked_at = now
            if kid != self._current[0]:
                self._load()
        if self._current is None:  # a fresh database, or every key retired by hand
            self.rotate()
        assert self._current is not None
        return self._current

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for ``kid`` while it may verify. Reloads when the kid is unknown or
        its time is up (at most once a second), and at least every minute, so a rotation made
        by another process is picked up by a server that only verifies, too: a retired key
        stops verifying (even freshly forged tokens, if it leaked) within a minute of
        ``retired_at + keep_s``."""
        now = self._clock()
        found = self._public.get(kid)
        since = now - self._loaded_at
        if (since > JWKS_MAX_AGE_S or ((found is None or found[1] <= now) and since > 1.0)):
            self._load()
            found = self._public.get(kid)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def rotate(self, publish_ahead_s: float = 0.0) -> str:
        """Make a new signing key, published now, signing from ``publish_ahead_s`` from now;
        the current key retires at that moment but keeps verifying its tokens."""
        if publish_ahead_s < 0:
            raise ValueError("publish_ahead_s must be >= 0")
        starts = self._clock() + publish_ahead_s
        kid = f"{int(starts)}-{secrets.token_hex(4)}"
        private = Ed25519PrivateKey.generate()
        raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw_public), "kid": kid,
               "alg": ALGORITHM, "use": "sig"}
        raw_private = private.private_bytes(serialization.Encoding.Raw,
                                            serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())
        with self._engine.begin() as conn:
            # Every key not yet retired (the signing one, and one a pending rotation made)
            # stops when the new one starts.
            conn.execute(update(signing_keys).where(or_(signing_keys.c.retired_at.is_(None),
                                                        signing_keys.c.retired_at > starts))
                         .values(retired_at=starts))
            conn.execute(insert(signing_keys).values(
                kid=kid, algorithm=ALGORITHM, private_key=self._master.seal(raw_private, _aad(kid)),
                public_jwk=json.dumps(jwk), created_at=starts))
        self._load()
        return kid

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set: every key that may still have valid tokens out there, and
        any key that is about to sign."""
        self.current()  # a fresh server publishes the key it is about to sign with
        with self._engine.connect() as conn:
            rows = conn.execute(select(signing_keys.c.public_jwk, signing_keys.c.retired_at)
                                .order_by(signing_keys.c.created_at.desc())).all()
        cutoff = self._clock() - self.keep_s
        return {"keys": [json.loads(r.public_jwk) for r in rows
                         if r.retired_at is None or r.retired_at > cutoff]}

    def _load(self) -> None:
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(select(signing_keys).order_by(signing_keys.c.created_at)).all()
        cutoff = now - self.keep_s
        public: dict[str, tuple[Ed25519PublicKey, float]] = {}
        signing = pending = None
        for r in rows:
            if r.retired_at is not None and r.retired_at <= cutoff:
                continue
            x = json.loads(r.public_jwk)["x"]
            public[r.kid] = (Ed25519PublicKey.from_public_bytes(
                base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))),
                float("inf") if r.retired_at is None else r.retired_at + self.keep_s)
            if r.retired_at is None or r.retired_at > now:
                if r.created_at <= now:
                    signing = r  # rows are in created_at order: the newest wins
                elif pending is None:
                    pending = r
        # Nothing signs yet but a key is on its way (this clock is behind the one that made
        # it): use that key rather than make another.
        signing = signing or pending
        current = None
        if signing is not None:
            raw = self._master.open(signing.private_key, _aad(signing.kid))
            current = (signing.kid, Ed25519PrivateKey.from_private_bytes(raw))
        self._public = public
        self._current = current
        self._loaded_at = self._checked_at = now
