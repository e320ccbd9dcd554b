"""The authentication server: password login → access + refresh tokens; refresh; revoke.

The password grant is for first-party clients only (our own web and CLI clients); third-party
clients should use signed requests with their own app keys instead of handling user passwords.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from bazaar.auth._errors import InvalidCredentials, TokenError
from bazaar.auth._passwords import Passwords
from bazaar.auth._ports import CredentialStore
from bazaar.auth._refresh import RefreshTokens
from bazaar.auth._revocations import Revocations
from bazaar.auth._tables import revocations as revocations_table
from bazaar.auth._tokens import AccessClaims, AccessTokens


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scopes: frozenset[str]
    subject: str = ""

    def as_json(self) -> dict[str, object]:
        return {"access_token": self.access_token, "token_type": "Bearer",
                "expires_in": self.expires_in, "refresh_token": self.refresh_token,
                "scope": " ".join(sorted(self.scopes))}


class TokenServer:
    """Login, refresh (rotating, with reuse detection) and revocation."""

    def __init__(self, *, credentials: CredentialStore, passwords: Passwords,
                 access: AccessTokens, refresh: RefreshTokens, revocations: Revocations,
                 engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._credentials = credentials
        self._passwords = passwords
        self.access = access
        self.refresh_tokens = refresh
        self.revocations = revocations
        self._engine = engine
        self._clock = clock

    async def login(self, username: str, password: str) -> TokenPair:
        """Tokens for a correct username and password; :class:`InvalidCredentials` otherwise."""
        return await anyio.to_thread.run_sync(self._login, username, password)

    def _login(self, username: str, password: str) -> TokenPair:
        # One worker thread for the hash, the family row and the signing key's version check.
        credential = self._passwords.authenticate(self._credentials, username, password)
        if credential is None:
            raise InvalidCredentials()
        family_id, refresh = self.refresh_tokens.start_family(credential.user_id,
                                                              credential.scopes)
        token, claims = self.access.issue(credential.user_id, credential.scopes, family_id)
        return TokenPair(token, refresh, int(self.access.lifetime), claims.scopes, claims.sub)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """The next token pair. A reused refresh token revokes its family, access tokens too."""
        try:
            grant = await anyio.to_thread.run_sync(self.refresh_tokens.rotate, refresh_token)
        except TokenError as exc:
            if exc.reason == "refresh-reuse":
                family = await anyio.to_thread.run_sync(self.refresh_tokens.family_of,
                                                        refresh_token)
                if family:
                    await self._revoke_id(family, self._clock() + self.access.lifetime)
            raise
        token, claims = await anyio.to_thread.run_sync(
            self.access.issue, grant.subject, grant.scopes, grant.family_id)
        return TokenPair(token, grant.refresh_token, int(self.access.lifetime), claims.scopes,
                         claims.sub)

    async def revoke(self, *, refresh_token: str | None = None,
                     access: AccessClaims | None = None) -> bool:
        """Log out: revoke a refresh token's family and/or an access token (and its family)."""
        done = False
        until = self._clock() + self.access.lifetime
        if refresh_token:
            family = await anyio.to_thread.run_sync(self.refresh_tokens.family_of, refresh_token)
            if family:
                await anyio.to_thread.run_sync(self.refresh_tokens.revoke_family, family)
                await self._revoke_id(family, until)
                done = True
        if access is not None:
            await self._revoke_id(access.jti, access.exp + 60)
            if access.fid:
                await anyio.to_thread.run_sync(self.refresh_tokens.revoke_family, access.fid)
                await self._revoke_id(access.fid, until)
            done = True
        return done

    def live_revocations(self) -> list[tuple[str, float]]:
        """The durable record's still-live revocations ``(id, until)``, expired rows dropped:
        what an in-process store reloads at start-up, so a logout survives a restart."""
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(delete(revocations_table).where(revocations_table.c.expires_at <= now))
            rows = conn.execute(select(revocations_table.c.revoked_id,
                                       revocations_table.c.expires_at)).all()
        return [(r.revoked_id, r.expires_at) for r in rows]

    async def _revoke_id(self, revoked_id: str, until: float) -> None:
        await self.revocations.add(revoked_id, until)

        def record() -> None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(insert(revocations_table).values(revoked_id=revoked_id,
                                                                  expires_at=until))
            except IntegrityError:
                pass  # already revoked

        await anyio.to_thread.run_sync(record)
