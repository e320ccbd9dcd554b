"""Auth's tables upgrade from the previous release's schema (made by ``create_all``, with no
version table) to head, keeping their rows, beside the shop's tables in one database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from tests.support.migrations import differences, previous_release

from bazaar import auth, storage
from bazaar.shop.adapters import MIGRATIONS as SHOP_MIGRATIONS


def test_auth_tables_upgrade_keeping_keys_and_apps(tmp_path: Path) -> None:
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'bazaar.db'}")
    storage.migrate.upgrade(engine, SHOP_MIGRATIONS)  # the shop shares the database
    previous_release(engine, auth.MIGRATIONS)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO auth_apps (app_id, name, scopes, created_at) "
                             "VALUES ('a1', 'reporting', 'orders:read', 1.0)"))
        conn.execute(sa.text("INSERT INTO auth_signing_keys (kid, algorithm, private_key, "
                             "public_jwk, created_at) VALUES ('k1', 'EdDSA', x'00', '{}', 2.0)"))
    auth.install(engine)
    assert storage.migrate.current(engine, auth.MIGRATIONS) == storage.migrate.head(
        auth.MIGRATIONS)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT app_id, name FROM auth_apps")).all() == [
            ("a1", "reporting")]
        assert conn.execute(sa.text("SELECT kid FROM auth_signing_keys")).all() == [("k1",)]
    assert differences(engine, auth.MIGRATIONS, auth.metadata) == []
    # the shop's revision did not move, and auth's second install changes nothing
    assert storage.migrate.current(engine, SHOP_MIGRATIONS) == storage.migrate.head(
        SHOP_MIGRATIONS)
    auth.install(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM auth_apps")).scalar() == 1


def test_a_new_auth_database_is_exactly_the_live_tables(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'plain.db'}")  # any engine will do
    auth.install(engine)
    assert differences(engine, auth.MIGRATIONS, auth.metadata) == []
