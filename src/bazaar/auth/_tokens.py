"""Access tokens: short-lived EdDSA JWTs (PyJWT), and a verified-claims cache for the hot path.

Verifying an Ed25519 JWT costs ~250 µs, so a verified token's claims are cached, keyed by the
token's SHA-256, until the token expires. Revocation is not cached: the caller checks ``jti``
and ``fid`` against :class:`Revocations` on every request. Tokens name their audience
(``aud``, one API); a token for another audience is refused (``wrong-audience``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import jwt

from bazaar.auth._errors import TokenError
from bazaar.auth._keyring import ALGORITHM, SigningKeys

#: ``aud`` of access tokens unless configured: the API they are good for.
DEFAULT_AUDIENCE = "bazaar-api"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    sub: str
    scopes: frozenset[str]
    jti: str
    fid: str
    iat: int
    exp: int


class AccessTokens:
    """Issue and verify access tokens."""

    def __init__(self, keys: SigningKeys, *, issuer: str = "bazaar",
                 audience: str = DEFAULT_AUDIENCE, lifetime: float = 900.0,
                 leeway: float = 5.0, cache_size: int = 50_000,
                 clock: Callable[[], float] = time.time) -> None:
        if not audience:
            raise ValueError("an access token needs an audience")
        self._keys = keys
        self._issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self._leeway = leeway
        self._clock = clock
        self._cache: dict[bytes, AccessClaims] = {}
        self._cache_size = cache_size

    def issue(self, sub: str, scopes: Iterable[str], family_id: str) -> tuple[str, AccessClaims]:
        """A signed token for ``sub`` with ``scopes``, tied to a refresh family."""
        kid, key = self._keys.current()
        now = int(self._clock())
        claims = AccessClaims(sub=sub, scopes=frozenset(scopes), jti=secrets.token_hex(16),
                              fid=family_id, iat=now, exp=now + int(self.lifetime))
        payload = {"iss": self._issuer, "aud": self.audience, "sub": sub, "iat": claims.iat,
                   "exp": claims.exp,
                   "jti": claims.jti, "fid": family_id, "scope": " ".join(sorted(claims.scopes))}
        token = jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid})
        return token, claims

    def verify(self, token: str) -> AccessClaims:
        """Claims of a valid token, or :class:`TokenError` (expired, malformed, wrong
        algorithm, unknown key, bad signature). Does not check revocation."""
        now = self._clock()
        digest = hashlib.sha256(token.encode()).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            if cached.exp + self._leeway > now:
                return cached
            del self._cache[digest]
            raise TokenError("expired", "the access token has expired")
        claims = self._verify_slow(token, now)
        if len(self._cache) >= self._cache_size:
            self._cache = {k: v for k, v in self._cache.items() if v.exp + self._leeway > now}
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
        self._cache[digest] = claims
        return claims

    def _verify_slow(self, token: str, now: float) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed-token", "not a JWT") from exc
        if header.get("alg") != ALGORITHM:
            # alg=none, HS256 keyed with our public key, RS/ES: refused before any crypto.
            raise TokenError("wrong-algorithm", f"only {ALGORITHM} tokens are accepted")
        kid = header.get("kid")
        key = self._keys.public_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("unknown-key", "the token's kid is not a current signing key")
        try:
            # Times are checked below against our clock (PyJWT would use the wall clock).
            payload = jwt.decode(
                token, key, algorithms=[ALGORITHM], issuer=self._issuer, audience=self.audience,
                options={"require": ["exp", "iat", "jti", "sub", "iss", "aud"],
                         "verify_exp": False,
                         "verify_iat": False, "verify_nbf": False})
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad-signature", "the token signature does not verify") from exc
        except (jwt.InvalidAudienceError, jwt.MissingRequiredClaimError) as exc:
            if isinstance(exc, jwt.MissingRequiredClaimError) and exc.claim != "aud":
                raise TokenError("malformed-token", "the token's claims are invalid") from exc
            raise TokenError("wrong-audience",
                             f"the token is not for this API (aud must be {self.audience!r})"
                             ) from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed-token", "the token's claims are invalid") from exc
        try:
            claims = AccessClaims(sub=str(payload["sub"]),
                                  scopes=frozenset(str(payload.get("scope", "")).split()),
                                  jti=str(payload["jti"]), fid=str(payload.get("fid", "")),
                                  iat=int(payload["iat"]), exp=int(payload["exp"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenError("malformed-token", "the token's claims are invalid") from exc
        if claims.exp + self._leeway <= now:
            raise TokenError("expired", "the access token has expired")
        if claims.iat - self._leeway > now:
            raise TokenError("not-yet-valid", "the token was issued in the future")
        return claims
