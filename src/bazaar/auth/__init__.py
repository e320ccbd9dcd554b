"""``bazaar.auth``: secure web API access, two ways.

- **Tokens**: an authentication server (argon2id passwords → short-lived EdDSA JWT access
  tokens + rotating refresh tokens with reuse detection, revocation, JWKS with ``kid`` rotation).
- **HMAC**: RFC 9421 HTTP Message Signatures with ``hmac-sha256`` over method, authority, path,
  query, content-type and an RFC 9530 ``Content-Digest``, with ``created`` + ``nonce`` against
  replay; apps with encrypted, rotating keys.

Usable alone: :class:`AuthMiddleware` guards any ASGI app, :class:`HttpxSigner` /
:class:`RequestsSigner` sign from any client, :func:`sign_request` / :func:`verify` are pure.
The host plugs its users in through :class:`CredentialStore`.
"""

from bazaar.auth._apps import MAX_ACTIVE_KEYS, AppInfo, AppRegistry, IssuedKey
from bazaar.auth._asgi import SCOPE_KEY, AuthMiddleware, Refuse, exempt_paths, send_problem
from bazaar.auth._audit import JsonLinesAudit
from bazaar.auth._authenticator import Audit, Authenticator, StaticAppKeys, structlog_audit
from bazaar.auth._client import BearerAuth, HttpxSigner, RequestsSigner, TokenAuth
from bazaar.auth._crypto import MasterKey
from bazaar.auth._digest import content_digest, verify_content_digest
from bazaar.auth._endpoints import auth_app, auth_routes
from bazaar.auth._errors import (
    AppKeyLimit,
    AppNotFound,
    AuthenticationFailed,
    AuthError,
    AuthUnavailable,
    ConfigError,
    InvalidCredentials,
    RateLimited,
    SignatureError,
    TokenError,
)
from bazaar.auth._keyring import JWKS_MAX_AGE_S, SigningKeys
from bazaar.auth._passwords import Argon2Params, Passwords
from bazaar.auth._ports import Credential, CredentialStore, Principal
from bazaar.auth._ratelimit import (
    Decision,
    MemoryRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
)
from bazaar.auth._refresh import RefreshTokens
from bazaar.auth._replay import MemoryNonceStore, NonceStore, RedisNonceStore
from bazaar.auth._revocations import MemoryRevocations, RedisRevocations, Revocations
from bazaar.auth._secret import Secret
from bazaar.auth._server import TokenPair, TokenServer
from bazaar.auth._sfv import SignatureInput, parse_signature_input
from bazaar.auth._signatures import (
    SignaturePolicy,
    SignedRequest,
    VerifiedSignature,
    sign,
    sign_request,
    signature_base,
    verify,
)
from bazaar.auth._sigv4 import (
    SigV4Parts,
    SigV4Policy,
    SigV4Request,
    VerifiedSigV4,
    is_sigv4,
    parse_sigv4,
    sign_sigv4,
    verify_sigv4,
)
from bazaar.auth._system import AuthConfig, AuthSystem, build_auth
from bazaar.auth._tables import MIGRATIONS, install, metadata
from bazaar.auth._tokens import AccessClaims, AccessTokens

__all__ = [
    "JWKS_MAX_AGE_S",
    "MAX_ACTIVE_KEYS",
    "MIGRATIONS",
    "SCOPE_KEY",
    "AccessClaims",
    "AccessTokens",
    "AppInfo",
    "AppKeyLimit",
    "AppNotFound",
    "AppRegistry",
    "Argon2Params",
    "Audit",
    "AuthConfig",
    "AuthError",
    "AuthMiddleware",
    "AuthSystem",
    "AuthUnavailable",
    "AuthenticationFailed",
    "Authenticator",
    "BearerAuth",
    "ConfigError",
    "Credential",
    "CredentialStore",
    "Decision",
    "HttpxSigner",
    "InvalidCredentials",
    "IssuedKey",
    "JsonLinesAudit",
    "MasterKey",
    "MemoryNonceStore",
    "MemoryRateLimiter",
    "MemoryRevocations",
    "NonceStore",
    "Passwords",
    "Principal",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "RedisNonceStore",
    "RedisRateLimiter",
    "RedisRevocations",
    "RefreshTokens",
    "Refuse",
    "RequestsSigner",
    "Revocations",
    "Secret",
    "SigV4Parts",
    "SigV4Policy",
    "SigV4Request",
    "SignatureError",
    "SignatureInput",
    "SignaturePolicy",
    "SignedRequest",
    "SigningKeys",
    "StaticAppKeys",
    "TokenAuth",
    "TokenError",
    "TokenPair",
    "TokenServer",
    "VerifiedSigV4",
    "VerifiedSignature",
    "auth_app",
    "auth_routes",
    "build_auth",
    "content_digest",
    "exempt_paths",
    "install",
    "is_sigv4",
    "metadata",
    "parse_signature_input",
    "parse_sigv4",
    "send_problem",
    "sign",
    "sign_request",
    "sign_sigv4",
    "signature_base",
    "structlog_audit",
    "verify",
    "verify_content_digest",
    "verify_sigv4",
]
