"""Auth's own tables (prefix ``auth_``) in auth's own ``MetaData``.

:func:`install` migrates them to head with auth's own Alembic revisions (``_migrations``,
version table ``auth_alembic_version``), so they can share a database with the shop's tables
and move on their own. Times are UNIX seconds (floats), identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

from bazaar.storage import Migrations, migrate

metadata = MetaData()

signing_keys = Table(
    "auth_signing_keys", metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False),  # sealed with the master key
    Column("public_jwk", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float, nullable=True),
)

refresh_families = Table(
    "auth_refresh_families", metadata,
    Column("family_id", String(64), primary_key=True),
    Column("subject", String(128), nullable=False, index=True),
    Column("scopes", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("revoked_reason", String(64), nullable=True),
)

refresh_tokens = Table(
    "auth_refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),  # sha-256 hex; the token is never stored
    Column("family_id", String(64), ForeignKey("auth_refresh_families.family_id"),
           nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float, nullable=True),
)

revocations = Table(
    "auth_revocations", metadata,
    Column("revoked_id", String(64), primary_key=True),  # a jti or a refresh family id
    Column("expires_at", Float, nullable=False),
)

apps = Table(
    "auth_apps", metadata,
    Column("app_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
)

app_keys = Table(
    "auth_app_keys", metadata,
    Column("app_id", String(64), ForeignKey("auth_apps.app_id"), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("secret", LargeBinary, nullable=False),  # sealed; aad = app, key id, version
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
)


#: Auth's migrations; the tables above are head.
MIGRATIONS = Migrations("bazaar.auth._migrations", version_table="auth_alembic_version")


def install(engine: Engine) -> None:
    """Migrate auth's tables to head (idempotent; a database the release before migrations
    made is adopted with its rows)."""
    migrate.upgrade(engine, MIGRATIONS)
