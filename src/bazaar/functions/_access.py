"""Who may call the frontend: Bearer tokens of the platform's own keyring, through bazaar.auth.

The platform keeps an EdDSA signing keyring (``bazaar.auth.SigningKeys``: keys sealed with a
master key) in ``DATA_DIR/functions/credentials/`` — a directory only the platform's user can
enter, so no sandbox (a different uid) can read it. Whoever can read it can mint a token: the
CLI does so for each command; ``bazaar functions token`` prints one for curl or for another
machine (``BAZAAR_FUNCTIONS_TOKEN``). A token carries the ``functions:admin`` scope and lives
an hour. The frontend checks the ``Authorization`` header before it reads a byte of the body.

For AWS clients (boto3, the AWS CLI), the same keyring database holds **access keys**: apps
of ``bazaar.auth``'s ``AppRegistry`` (secret sealed with the master key), made by ``bazaar
functions keys create``. The app id is the access key id, its API key the secret access key;
requests signed with SigV4 for the service ``lambda`` (any region) are accepted with the
app's scopes. The signature's form, clock and key are checked before the body is read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import httpx

from bazaar.auth import (
    AccessTokens,
    AppRegistry,
    Authenticator,
    AuthMiddleware,
    MasterKey,
    MemoryNonceStore,
    MemoryRateLimiter,
    MemoryRevocations,
    RateLimit,
    Refuse,
    SigningKeys,
    SigV4Policy,
    StaticAppKeys,
    install,
)
from bazaar.storage import EngineOptions, make_engine

SCOPE = "functions:admin"
TOKEN_LIFETIME_S = 3600.0
ISSUER = "bazaar-functions"
#: The service name AWS clients sign for (boto3's ``lambda`` client).
SIGV4_SERVICE = "lambda"


def credentials_dir(root: Path) -> Path:
    """Where the keyring lives under a platform's ``DATA_DIR/functions``."""
    return Path(root) / "credentials"


class PlatformAccess:
    """The platform's keyring: mint tokens, and the authenticator that checks them."""

    def __init__(self, root: Path, *, lifetime_s: float = TOKEN_LIFETIME_S) -> None:
        directory = credentials_dir(root)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        # the CLI and the platform share the keyring: a busy timeout, not "database is locked"
        self._engine = make_engine(f"sqlite:///{directory / 'keys.db'}",
                                   EngineOptions(pool_size=2, sqlite_busy_timeout_ms=5000))
        install(self._engine)
        master = MasterKey.load_or_create(directory / "master.key")
        self.keys = SigningKeys(self._engine, master, token_lifetime=lifetime_s)
        self.tokens = AccessTokens(self.keys, issuer=ISSUER, lifetime=lifetime_s)
        #: Access keys for SigV4 clients: access key id = app id, secret = its API key.
        self.access_keys = AppRegistry(self._engine, master, cache_ttl=5.0)

    def issue(self, subject: str = "admin") -> str:
        """A token with the ``functions:admin`` scope, valid for the keyring's lifetime."""
        token, _ = self.tokens.issue(subject, [SCOPE], family_id="functions")
        return token

    def authenticator(self, failed_burst: int = 30) -> Authenticator:
        """Bearer tokens and SigV4 access keys (no RFC 9421 app keys: such a signature is
        refused); failed attempts limited per client address (``failed_burst``, then one a
        second)."""
        self.keys.current()  # the signing key exists before any client mints a token
        return Authenticator(
            public_origin="http://127.0.0.1", apps=StaticAppKeys({}), tokens=self.tokens,
            revocations=MemoryRevocations(), nonces=MemoryNonceStore(),
            limiter=MemoryRateLimiter(RateLimit(rate=1e6, burst=1e6)),
            failed_limiter=MemoryRateLimiter(RateLimit(rate=1.0, burst=failed_burst)),
            audit=_no_audit, sigv4=SigV4Policy(service=SIGV4_SERVICE),
            sigv4_keys=self.access_keys)

    def close(self) -> None:
        self._engine.dispose()


def _no_audit(*_: object, **__: object) -> None:
    """The platform keeps no auth audit trail (its invocation log is the record)."""


async def _problem(scope: Any, send: Any, status: int, reason: str, detail: str,
                   headers: list[tuple[bytes, bytes]]) -> None:
    from bazaar.auth import send_problem

    await send_problem(send, status, reason, detail, headers)


def guard(app: Any, access: PlatformAccess, failed_burst: int = 30, *,
          authenticator: Authenticator | None = None, refuse: Refuse = _problem,
          max_sigv4_body: int = 1) -> AuthMiddleware:
    """``app`` behind Bearer or SigV4 authentication; a valid credential without the scope
    gets 403. ``refuse`` renders refusals; a SigV4 body is read up to ``max_sigv4_body``."""

    async def scoped(scope: Any, receive: Any, send: Any) -> None:
        principal = scope.get("bazaar.principal")
        if scope["type"] == "http" and (principal is None or SCOPE not in principal.scopes):
            await refuse(scope, send, 403, "insufficient-scope",
                         f"this credential lacks the {SCOPE} scope", [])
            return
        await app(scope, receive, send)

    # max_body=1: RFC 9421 signatures are not accepted here, so such a body is never buffered.
    return AuthMiddleware(scoped, authenticator=authenticator or access.authenticator(
        failed_burst), max_body=1, max_sigv4_body=max_sigv4_body, refuse=refuse)


class BearerToken(httpx.Auth):
    """httpx auth that sends ``Authorization: Bearer`` with a token from ``source`` (a string
    or a function minting one), minted again when half its lifetime has passed."""

    def __init__(self, source: str | Callable[[], str],
                 refresh_after_s: float = TOKEN_LIFETIME_S / 2) -> None:
        self._source = source
        self._refresh_after_s = refresh_after_s
        self._token = ""
        self._minted = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"

    def token(self) -> str:
        if isinstance(self._source, str):
            return self._source
        with self._lock:
            now = time.monotonic()
            if not self._token or now - self._minted > self._refresh_after_s:
                self._token, self._minted = self._source(), now
            return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request
