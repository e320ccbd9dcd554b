"""The shop's tables, as SQLAlchemy Core metadata, beside the mapper that maps the domain onto
them. The migrations in :mod:`.migrations` create exactly these (a test compares them)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)

from bazaar.storage import Migrations

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("scopes", String(255), nullable=False),  # space-separated, OAuth style
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

products = Table(
    "products", metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("stock", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("stock >= 0", name="stock_not_negative"),
)

rooms = Table(
    "rooms", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("count", Integer, nullable=False),
)

room_nights = Table(
    "room_nights", metadata,
    Column("room_id", Integer, ForeignKey("rooms.id"), primary_key=True),
    Column("night", Date, primary_key=True),
    Column("total", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("reserved >= 0 AND reserved <= total", name="never_double_booked"),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # the checkout saga's progress on this order (None: never checked out) and why it
    # failed or never started
    Column("checkout", String(16), nullable=True),
    Column("checkout_reason", Text, nullable=True),
    Index("ix_orders_user_id_id", "user_id", "id"),
)

order_lines = Table(
    "order_lines", metadata,
    Column("id", Integer, primary_key=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("product_id", Integer, ForeignKey("products.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
)

reservations = Table(
    "reservations", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("room_id", Integer, ForeignKey("rooms.id"), nullable=False),
    Column("check_in", Date, nullable=False),
    Column("check_out", Date, nullable=False),
    Column("rooms", Integer, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The shop's events for the log, written in the transaction of the change they describe and
# published by a relay (bazaar.flow.choreography's Relay: the same layout as its outbox).
outbox = Table(
    "outbox", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("topic", String(100), nullable=False),
    Column("key", String(100), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, index=True),
)

#: The shop's migrations (``bazaar.storage.migrate`` runs them; a test checks they build
#: exactly the tables above). Version table ``alembic_version``, as before the split.
MIGRATIONS = Migrations("bazaar.shop.adapters.migrations")
