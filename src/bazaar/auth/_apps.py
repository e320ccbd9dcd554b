"""HMAC apps: a public APP ID, API keys stored encrypted, up to two active keys for rotation.

The API key is shown once, at creation or rotation. The server needs the key itself to
recompute signatures, so it is sealed with AES-256-GCM under the master key, bound to
``app|key|version``. Decrypted keys are cached in memory for ``cache_ttl`` seconds; revoking
through this registry drops the cache at once (other processes see it within ``cache_ttl``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from bazaar.auth._crypto import MasterKey
from bazaar.auth._errors import AppKeyLimit, AppNotFound, AuthError
from bazaar.auth._secret import Secret
from bazaar.auth._tables import app_keys, apps

MAX_ACTIVE_KEYS = 2


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: the only time its value is visible."""

    app_id: str
    key_id: str
    api_key: Secret[str]


@dataclass(frozen=True, slots=True)
class AppInfo:
    app_id: str
    name: str
    scopes: frozenset[str]
    active_keys: tuple[str, ...]
    created_at: float
    last_used_at: float | None
    revoked: bool


def _aad(app_id: str, key_id: str, version: int) -> str:
    return f"bazaar-app-key|{app_id}|{key_id}|v{version}"


class AppRegistry:
    """Create, rotate, revoke and look up apps and their keys."""

    def __init__(self, engine: Engine, master_key: MasterKey, *, cache_ttl: float = 30.0,
                 touch_every: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._master = master_key
        self._ttl = cache_ttl
        self._negative_ttl = min(cache_ttl, 2.0)
        self._touch_every = touch_every
        self._clock = clock
        self._cache: dict[str, tuple[float, tuple[bytes, ...], frozenset[str]]] = {}
        self._touched: dict[str, float] = {}

    # --- administration -----------------------------------------------------------------
    def create(self, name: str, scopes: Sequence[str]) -> IssuedKey:
        """A new app with one key. Names are unique."""
        if not name or len(name) > 128:
            raise AuthError("an app name must be 1..128 characters")
        app_id = "app_" + secrets.token_hex(8)
        with self._engine.begin() as conn:
            exists = conn.execute(select(apps.c.app_id).where(apps.c.name == name)).first()
            if exists:
                raise AuthError(f"an app named {name!r} already exists")
            conn.execute(insert(apps).values(app_id=app_id, name=name,
                                             scopes=" ".join(sorted(set(scopes))),
                                             created_at=self._clock()))
            return self._add_key(conn, app_id)

    def rotate(self, app_id: str) -> IssuedKey:
        """Add a key (at most two active); revoke the old one once clients have switched."""
        with self._engine.begin() as conn:
            self._active_app(conn, app_id)
            active = conn.execute(select(func.count()).select_from(app_keys).where(
                and_(app_keys.c.app_id == app_id, app_keys.c.revoked_at.is_(None)))).scalar_one()
            if active >= MAX_ACTIVE_KEYS:
                raise AppKeyLimit(f"{app_id} already has {MAX_ACTIVE_KEYS} active keys; "
                                  "revoke the older one first")
            issued = self._add_key(conn, app_id)
        self._cache.pop(app_id, None)
        return issued

    def revoke(self, app_id: str, key_id: str | None = None) -> None:
        """Revoke one key, or (``key_id=None``) the whole app."""
        now = self._clock()
        with self._engine.begin() as conn:
            self._active_app(conn, app_id)
            if key_id is None:
                conn.execute(update(apps).where(apps.c.app_id == app_id).values(revoked_at=now))
                conn.execute(update(app_keys).where(and_(
                    app_keys.c.app_id == app_id, app_keys.c.revoked_at.is_(None))
                ).values(revoked_at=now))
            else:
                done = conn.execute(update(app_keys).where(and_(
                    app_keys.c.app_id == app_id, app_keys.c.key_id == key_id,
                    app_keys.c.revoked_at.is_(None))).values(revoked_at=now))
                if done.rowcount != 1:
                    raise AppNotFound(f"{app_id} has no active key {key_id!r}")
        self._cache.pop(app_id, None)

    def list(self) -> list[AppInfo]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(apps).order_by(apps.c.created_at)).all()
            keys = conn.execute(select(app_keys.c.app_id, app_keys.c.key_id).where(
                app_keys.c.revoked_at.is_(None)).order_by(app_keys.c.version)).all()
        active: dict[str, list[str]] = {}
        for k in keys:
            active.setdefault(k.app_id, []).append(k.key_id)
        return [AppInfo(app_id=r.app_id, name=r.name, scopes=frozenset(r.scopes.split()),
                        active_keys=tuple(active.get(r.app_id, ())), created_at=r.created_at,
                        last_used_at=r.last_used_at, revoked=r.revoked_at is not None)
                for r in rows]

    # --- hot path -----------------------------------------------------------------------
    def secrets(self, app_id: str) -> tuple[bytes, ...] | None:
        """The app's active keys (a :data:`KeyResolver`), or None if unknown or revoked."""
        entry = self._lookup(app_id)
        return entry[1] if entry else None

    def scopes(self, app_id: str) -> frozenset[str]:
        entry = self._lookup(app_id)
        return entry[2] if entry else frozenset()

    def touch(self, app_id: str) -> None:
        """Record use; written at most once per ``touch_every`` seconds per app."""
        now = self._clock()
        if now - self._touched.get(app_id, 0.0) < self._touch_every:
            return
        self._touched[app_id] = now
        with self._engine.begin() as conn:
            conn.execute(update(apps).where(apps.c.app_id == app_id).values(last_used_at=now))

    def invalidate(self) -> None:
        self._cache.clear()

    # --- internals ----------------------------------------------------------------------
    def _lookup(self, app_id: str) -> tuple[float, tuple[bytes, ...], frozenset[str]] | None:
        now = self._clock()
        entry = self._cache.get(app_id)
        if entry is not None and entry[0] > now:
            return entry if entry[1] else None
        if not app_id.startswith("app_") or len(app_id) > 64:
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        with self._engine.connect() as conn:
            app = conn.execute(select(apps).where(and_(
                apps.c.app_id == app_id, apps.c.revoked_at.is_(None)))).first()
            if app is None:
                # Remember the miss briefly: random keyids must not each cost a query.
                self._cache[app_id] = (now + self._negative_ttl, (), frozenset())
                return None
            rows = conn.execute(select(app_keys).where(and_(
                app_keys.c.app_id == app_id, app_keys.c.revoked_at.is_(None))
            ).order_by(app_keys.c.version.desc())).all()
        keys = tuple(self._master.open(r.secret, _aad(app_id, r.key_id, r.version)) for r in rows)
        entry = (now + self._ttl, keys, frozenset(app.scopes.split()))
        self._cache[app_id] = entry
        return entry

    def _active_app(self, conn: Connection, app_id: str) -> None:
        row = conn.execute(select(apps.c.revoked_at).where(apps.c.app_id == app_id)).first()
        if row is None or row.revoked_at is not None:
            raise AppNotFound(f"no active app {app_id!r}")

    def _add_key(self, conn: Connection, app_id: str) -> IssuedKey:
        version = (conn.execute(select(func.max(app_keys.c.version)).where(
            app_keys.c.app_id == app_id)).scalar_one() or 0) + 1
        key_id = f"k{version}"
        api_key = "bzk_" + secrets.token_urlsafe(32)
        conn.execute(insert(app_keys).values(
            app_id=app_id, key_id=key_id, version=version, created_at=self._clock(),
            secret=self._master.seal(api_key.encode(), _aad(app_id, key_id, version))))
        return IssuedKey(app_id=app_id, key_id=key_id, api_key=Secret(api_key))
