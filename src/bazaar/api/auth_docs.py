"""What ``bazaar.auth``'s endpoints (mounted in the shop's app by the composition root) look
like on the wire, for the shop's OpenAPI document: ``POST /auth/token|refresh|revoke`` and
the JWKS. The schemathesis run in the suite checks the real answers against these types."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from bazaar.api.routes import Operation

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class TokenRequest(msgspec.Struct):
    """OAuth 2 password grant (RFC 6749 §4.3), as a form or a JSON object."""

    username: Text
    password: Text
    grant_type: Literal["password"] = "password"
    #: Ignored: a token carries the user's own scopes.
    scope: str = ""


class RefreshRequest(msgspec.Struct):
    """RFC 6749 §6: a refresh token for a new pair (the old one is spent)."""

    refresh_token: Text
    grant_type: Literal["refresh_token"] = "refresh_token"


class RevokeRequest(msgspec.Struct):
    """RFC 7009: log out. Send the refresh token, or the access token as Bearer, or both."""

    refresh_token: str = ""


class TokenPair(msgspec.Struct):
    access_token: Annotated[str, msgspec.Meta(description="An EdDSA JWT, sent as Bearer.")]
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, msgspec.Meta(description="Seconds the access token lives.")]
    refresh_token: str
    scope: Annotated[str, msgspec.Meta(description="Space-separated scopes.")]


class Revoked(msgspec.Struct):
    #: Whether something was revoked (the answer is 200 either way, as RFC 7009 asks).
    revoked: bool


class Jwk(msgspec.Struct):
    kty: str
    kid: str
    crv: str = ""
    x: str = ""
    alg: str = ""
    use: str = ""


class Jwks(msgspec.Struct):
    keys: list[Jwk]


def auth_operations() -> list[Operation]:
    """Documented here, served by ``bazaar.auth`` (``endpoint`` None: not routed by the API)."""
    o = Operation
    both = (FORM, JSON)
    return [
        o("POST", "/auth/token", None, "Log in: username and password for a token pair "
          "(OAuth 2 password grant)", TokenRequest, TokenPair, scope=None, errors=(400, 401, 429),
          media=both, operation_id="token"),
        o("POST", "/auth/refresh", None, "A new token pair for a refresh token (rotating; a "
          "reused one revokes its family)", RefreshRequest, TokenPair, scope=None,
          errors=(400, 401), media=both, operation_id="refresh"),
        o("POST", "/auth/revoke", None, "Log out: revoke a refresh token's family and/or the "
          "Bearer access token", RevokeRequest, Revoked, scope=None, media=both,
          operation_id="revoke"),
        o("GET", "/.well-known/jwks.json", None, "The public keys that verify access tokens "
          "(JWKS, RFC 7517)", response=Jwks, scope=None, operation_id="jwks"),
    ]
