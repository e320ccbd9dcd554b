"""The shop's database upgrades from the previous release's schema (revision 0001, before
orders carried their checkout) to head on both databases, keeping its users and orders, with
auth's tables beside it on their own revisions."""

from __future__ import annotations

import sqlalchemy as sa
from tests.support.migrations import differences

from bazaar import auth, storage
from bazaar.shop.adapters import MIGRATIONS, schema


def test_the_shop_upgrades_from_the_previous_release_keeping_its_orders(
        database_url: str) -> None:
    engine = storage.make_engine(database_url)
    try:
        assert storage.migrate.upgrade(engine, MIGRATIONS, "0001") == "0001"
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (id, username, display_name, password_hash,"
                                 " scopes) VALUES (1, 'ann', 'Ann', 'h', 'orders:write')"))
            conn.execute(sa.text("INSERT INTO orders (id, user_id, status, version) "
                                 "VALUES (7, 1, 'placed', 1)"))
        auth.install(engine)  # auth's tables share the database, on their own revisions
        assert storage.migrate.upgrade(engine, MIGRATIONS) == storage.migrate.head(MIGRATIONS)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(schema.orders.c.id, schema.orders.c.status,
                                          schema.orders.c.checkout)).all()
            assert [tuple(r) for r in rows] == [(7, "placed", None)]
            assert conn.execute(sa.select(schema.users.c.username)).scalars().all() == ["ann"]
        assert differences(engine, MIGRATIONS, schema.metadata) == []
        assert differences(engine, auth.MIGRATIONS, auth.metadata) == []
    finally:
        engine.dispose()
