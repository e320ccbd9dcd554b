"""Refresh tokens in families, rotated on every use, with reuse detection.

Each login starts a family. Refreshing spends the presented token and issues the next one in
the same family. Presenting a spent token means it was copied: the whole family is revoked
(the legitimate client logs in again, the thief is locked out). Only SHA-256 hashes of refresh
tokens are stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, insert, select, update

from bazaar.auth._errors import TokenError
from bazaar.auth._tables import refresh_families, refresh_tokens


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """The outcome of a successful refresh: who, which family, and the next refresh token."""

    subject: str
    scopes: frozenset[str]
    family_id: str
    refresh_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RefreshTokens:
    def __init__(self, engine: Engine, *, lifetime: float = 14 * 86400.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self.lifetime = lifetime
        self._clock = clock

    def start_family(self, subject: str, scopes: Iterable[str]) -> tuple[str, str]:
        """A new family for a login; returns (family_id, refresh_token)."""
        family_id = secrets.token_hex(16)
        with self._engine.begin() as conn:
            conn.execute(insert(refresh_families).values(
                family_id=family_id, subject=subject, scopes=" ".join(sorted(set(scopes))),
                created_at=self._clock()))
            token = self._issue(conn, family_id)
        return family_id, token

    def rotate(self, token: str) -> RefreshGrant:
        """Spend ``token`` and return the next one. Raises :class:`TokenError` with
        ``refresh-reuse`` (and revokes the family) when a spent token comes back."""
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(
                select(refresh_tokens, refresh_families.c.subject, refresh_families.c.scopes,
                       refresh_families.c.revoked_at)
                .join(refresh_families,
                      refresh_families.c.family_id == refresh_tokens.c.family_id)
                .where(refresh_tokens.c.token_hash == _hash(token))).first()
            if row is None:
                raise TokenError("invalid-refresh-token", "unknown refresh token")
            if row.revoked_at is not None:
                raise TokenError("revoked", "this session was revoked")
            if row.expires_at <= now:
                raise TokenError("expired", "the refresh token has expired")
            spent = conn.execute(update(refresh_tokens).where(and_(
                refresh_tokens.c.token_hash == row.token_hash,
                refresh_tokens.c.used_at.is_(None))).values(used_at=now))
            if spent.rowcount != 1:
                self._revoke(conn, row.family_id, "refresh-reuse", now)
                reuse = True
            else:
                reuse = False
                nxt = self._issue(conn, row.family_id)
        if reuse:
            raise TokenError("refresh-reuse",
                             "a spent refresh token was presented; the session is revoked")
        return RefreshGrant(subject=row.subject, scopes=frozenset(row.scopes.split()),
                            family_id=row.family_id, refresh_token=nxt)

    def family_of(self, token: str) -> str | None:
        with self._engine.connect() as conn:
            return conn.execute(select(refresh_tokens.c.family_id).where(
                refresh_tokens.c.token_hash == _hash(token))).scalar_one_or_none()

    def revoke_family(self, family_id: str, reason: str = "logout") -> None:
        with self._engine.begin() as conn:
            self._revoke(conn, family_id, reason, self._clock())

    def _revoke(self, conn: Connection, family_id: str, reason: str, now: float) -> None:
        conn.execute(update(refresh_families).where(and_(
            refresh_families.c.family_id == family_id, refresh_families.c.revoked_at.is_(None))
        ).values(revoked_at=now, revoked_reason=reason))

    def _issue(self, conn: Connection, family_id: str) -> str:
        token = "rt_" + secrets.token_urlsafe(32)
        now = self._clock()
        conn.execute(insert(refresh_tokens).values(
            token_hash=_hash(token), family_id=family_id, created_at=now,
            expires_at=now + self.lifetime))
        return token
