"""The shop's tables that belong to a user — users, their orders (and lines), reservations
and idempotency keys — as they are laid out in one logical shard's schema (``shard_NNNN``,
see :mod:`bazaar.storage.shards`). The inventory (products, rooms, room nights) and the
outbox stay in the inventory database.

Differences from :mod:`.schema`, and why: ids are ``bigint`` made by the shard's own
``next_id()`` (Instagram's function: milliseconds since the epoch, the logical shard, and a
per-shard sequence mod 1,024 — so two app servers never hand out the same id, which two
in-process generators could); no foreign key points at products or rooms (they live in
another database).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from bazaar.storage.shards import EPOCH_MS, SEQUENCE_BITS, SHARD_BITS

#: The user-owned tables, in creation order (each one's references come before it).
TABLES = ("users", "orders", "order_lines", "reservations", "idempotency_keys")


def _next_id(shard: int) -> str:
    return f"""
CREATE SEQUENCE id_seq;
CREATE FUNCTION next_id() RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - {EPOCH_MS})
          << {SHARD_BITS + SEQUENCE_BITS})
         | ({shard}::bigint << {SEQUENCE_BITS})
         | mod(nextval('id_seq'), {1 << SEQUENCE_BITS})
$$;
"""


_TABLES = """
CREATE TABLE users (
  id bigint PRIMARY KEY DEFAULT next_id(),
  username varchar(32) NOT NULL UNIQUE,
  display_name varchar(100) NOT NULL,
  password_hash varchar(255) NOT NULL,
  scopes varchar(255) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (
  id bigint PRIMARY KEY DEFAULT next_id(),
  user_id bigint NOT NULL REFERENCES users (id),
  status varchar(16) NOT NULL,
  version integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  checkout varchar(16),
  checkout_reason text);
CREATE INDEX ix_orders_user_id_id ON orders (user_id, id);
CREATE TABLE order_lines (
  id bigint PRIMARY KEY DEFAULT next_id(),
  order_id bigint NOT NULL REFERENCES orders (id),
  product_id integer NOT NULL,
  quantity integer NOT NULL,
  unit_price_cents integer NOT NULL);
CREATE INDEX ix_order_lines_order_id ON order_lines (order_id);
CREATE TABLE reservations (
  id bigint PRIMARY KEY DEFAULT next_id(),
  user_id bigint NOT NULL REFERENCES users (id),
  room_id integer NOT NULL,
  check_in date NOT NULL,
  check_out date NOT NULL,
  rooms integer NOT NULL,
  price_cents integer NOT NULL,
  status varchar(16) NOT NULL,
  version integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ix_reservations_user_id ON reservations (user_id);
CREATE TABLE idempotency_keys (
  user_id bigint NOT NULL REFERENCES users (id),
  key varchar(255) NOT NULL,
  request_hash varchar(64) NOT NULL,
  order_id bigint REFERENCES orders (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key));
"""


def shard_ddl(conn: Connection, shard: int) -> None:
    """Create the user-owned tables and ``next_id()`` in the current schema (the caller
    sets ``search_path`` to ``shard``'s schema)."""
    conn.exec_driver_sql(_next_id(shard) + _TABLES)


def with_shard(shard: int) -> Callable[[Connection], None]:
    """:func:`shard_ddl` for one shard, as the one-argument DDL hook the store takes."""

    def ddl(conn: Connection) -> None:
        shard_ddl(conn, shard)

    return ddl
