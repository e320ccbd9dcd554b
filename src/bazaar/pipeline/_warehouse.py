"""The warehouse: a DuckDB file with a star schema, loaded incrementally from the lake.

``fact_orders`` (one row per order line) with ``dim_product``, ``dim_customer`` and
``dim_date``; ``fact_events`` holds every prepared event (the funnel and sessions read it);
``agg_daily``, ``agg_funnel`` and ``stock_levels`` are what the dashboard reads.

A load reads only the lake files not loaded before (``loaded_files``), inserts keyed by event
id (``INSERT OR IGNORE``: a replayed file adds nothing), then recomputes what those rows touch
(their customers' sessions, their days' aggregates, their products' stock and price) from the
facts — so any sequence of loads, interrupted by a kill -9 anywhere (the load is one
transaction), ends in the same warehouse as one load of the whole lake.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazaar.pipeline._errors import WarehouseError
from bazaar.pipeline._events import ORDER_CANCELLED, ORDER_PAID, ORDER_PLACED, STOCK_CHANGED
from bazaar.pipeline._lake import Lake
from bazaar.pipeline._prepare import clean_sql, parquet_source, sessions_sql

SCHEMA = """
CREATE TABLE IF NOT EXISTS loaded_files (path VARCHAR PRIMARY KEY, rows BIGINT,
                                         loaded_at DOUBLE);
CREATE TABLE IF NOT EXISTS fact_events (
  event_id VARCHAR PRIMARY KEY, type VARCHAR NOT NULL, ts TIMESTAMPTZ NOT NULL,
  date_key INTEGER NOT NULL, customer_id VARCHAR, product_id BIGINT, order_id VARCHAR,
  quantity BIGINT, price_cents BIGINT, stock BIGINT);
-- Sessions are recomputed per customer on every load: a table without an index, so that
-- replacing a customer's rows is a cheap delete and insert.
CREATE TABLE IF NOT EXISTS event_sessions (event_id VARCHAR NOT NULL,
                                           customer_id VARCHAR NOT NULL,
                                           session_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS fact_orders (
  event_id VARCHAR PRIMARY KEY, order_id VARCHAR, product_id BIGINT NOT NULL,
  customer_id VARCHAR, date_key INTEGER NOT NULL, ts TIMESTAMPTZ NOT NULL,
  quantity BIGINT NOT NULL, unit_price_cents BIGINT NOT NULL, revenue_cents BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS dim_product (product_id BIGINT PRIMARY KEY, first_sold TIMESTAMPTZ,
                                        last_price_cents BIGINT, units_sold BIGINT);
CREATE TABLE IF NOT EXISTS dim_customer (customer_id VARCHAR PRIMARY KEY,
                                         first_seen TIMESTAMPTZ, sessions BIGINT);
CREATE TABLE IF NOT EXISTS dim_date (date_key INTEGER PRIMARY KEY, day DATE, year INTEGER,
                                     month INTEGER, weekday INTEGER);
CREATE TABLE IF NOT EXISTS agg_daily (date_key INTEGER PRIMARY KEY, orders BIGINT,
                                      units BIGINT, revenue_cents BIGINT, customers BIGINT);
CREATE TABLE IF NOT EXISTS agg_funnel (stage INTEGER PRIMARY KEY, name VARCHAR,
                                       sessions BIGINT);
CREATE TABLE IF NOT EXISTS stock_levels (product_id BIGINT PRIMARY KEY, stock BIGINT,
                                         ts TIMESTAMPTZ);
-- One row per order: its lines' revenue and where it stands (placed, paid or cancelled).
CREATE TABLE IF NOT EXISTS dim_order (order_id VARCHAR PRIMARY KEY, customer_id VARCHAR,
                                      placed_at TIMESTAMPTZ, status VARCHAR NOT NULL,
                                      paid_at TIMESTAMPTZ, cancelled_at TIMESTAMPTZ,
                                      lines BIGINT, revenue_cents BIGINT);
-- The order lines that count: a cancelled order's lines are facts, not sales.
CREATE OR REPLACE VIEW sold_lines AS
  SELECT f.* FROM fact_orders f
  WHERE NOT EXISTS (SELECT 1 FROM dim_order o
                    WHERE o.order_id = f.order_id AND o.status = 'cancelled');
"""
#: Tables whose contents :meth:`Warehouse.digest` covers (everything but the load log).
TABLES = ("fact_events", "event_sessions", "fact_orders", "dim_product", "dim_customer", "dim_date",
          "agg_daily", "agg_funnel", "stock_levels", "dim_order")
FUNNEL = (("viewed", "product_viewed"), ("added to cart", "cart_added"),
          ("started checkout", "checkout_started"), ("ordered", "order_placed"))


@dataclass
class LoadStats:
    files: int = 0
    rows_in: int = 0
    facts_added: int = 0
    seconds: float = 0.0


class Warehouse:
    """The DuckDB warehouse file; one process owns it (DuckDB allows one writer)."""

    def __init__(self, path: Path | str) -> None:
        import duckdb

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open the warehouse {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute(SCHEMA)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A cursor for one thread's reads (the dashboard's requests)."""
        cur = self._con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            yield cur
        finally:
            cur.close()

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.cursor() as cur:
            rows: list[tuple[Any, ...]] = cur.execute(sql, params or []).fetchall()
            return rows

    # -- loading -----------------------------------------------------------------------------
    def pending(self, lake: Lake) -> list[str]:
        """The lake's committed files this warehouse has not loaded."""
        done = {r[0] for r in self.query("SELECT path FROM loaded_files")}
        return [f.path for f in lake.files() if f.path not in done]

    def load(self, lake: Lake, *, max_files: int | None = None) -> LoadStats:
        """Load the lake's new files (``max_files`` at most) in one transaction."""
        import duckdb

        started = time.perf_counter()
        stats = LoadStats()
        with self._lock:
            new = self.pending(lake)[:max_files]
            if not new:
                return stats
            con = self._con
            try:
                con.execute("BEGIN")
                source = clean_sql(parquet_source([str(lake.root / p) for p in new]))
                con.execute("CREATE OR REPLACE TEMP TABLE batch AS "
                            f'SELECT * RENAME ("at" AS ts) FROM ({source})')
                stats.rows_in = _count(con, "batch")
                before = _count(con, "fact_events")
                self._apply(con)
                stats.facts_added = _count(con, "fact_events") - before
                con.executemany("INSERT INTO loaded_files VALUES (?, ?, ?)",
                                [(p, 0, time.time()) for p in new])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise WarehouseError(f"load into {self.path}: {exc}") from exc
        stats.files = len(new)
        stats.seconds = time.perf_counter() - started
        return stats

    def _apply(self, con: Any) -> None:
        con.execute("""
          INSERT OR IGNORE INTO fact_events
          SELECT event_id, type, ts, CAST(strftime(ts, '%Y%m%d') AS INTEGER), customer_id,
                 product_id, order_id, quantity, price_cents, stock FROM batch""")
        con.execute(f"""
          INSERT OR IGNORE INTO fact_orders
          SELECT event_id, order_id, product_id, customer_id,
                 CAST(strftime(ts, '%Y%m%d') AS INTEGER), ts, quantity, price_cents,
                 quantity * price_cents
          FROM batch WHERE type = '{ORDER_PLACED}'""")
        # What the new rows touch is recomputed from the facts, never added to. An order
        # paid or cancelled later touches its lines' days and products too.
        con.execute(f"""CREATE OR REPLACE TEMP TABLE touched_orders AS
                        SELECT DISTINCT order_id FROM batch WHERE order_id IS NOT NULL
                          AND type IN ('{ORDER_PLACED}', '{ORDER_PAID}', '{ORDER_CANCELLED}')""")
        con.execute("""DELETE FROM dim_order
                       WHERE order_id IN (SELECT order_id FROM touched_orders)""")
        con.execute(f"""INSERT INTO dim_order
          SELECT e.order_id, any_value(e.customer_id),
                 min(e.ts) FILTER (WHERE e.type = '{ORDER_PLACED}'),
                 CASE WHEN count(*) FILTER (WHERE e.type = '{ORDER_CANCELLED}') > 0
                      THEN 'cancelled'
                      WHEN count(*) FILTER (WHERE e.type = '{ORDER_PAID}') > 0 THEN 'paid'
                      ELSE 'placed' END,
                 min(e.ts) FILTER (WHERE e.type = '{ORDER_PAID}'),
                 min(e.ts) FILTER (WHERE e.type = '{ORDER_CANCELLED}'),
                 count(*) FILTER (WHERE e.type = '{ORDER_PLACED}'),
                 coalesce(sum(e.quantity * e.price_cents)
                          FILTER (WHERE e.type = '{ORDER_PLACED}'), 0)
          FROM fact_events e
          WHERE e.order_id IN (SELECT order_id FROM touched_orders)
            AND e.type IN ('{ORDER_PLACED}', '{ORDER_PAID}', '{ORDER_CANCELLED}')
          GROUP BY e.order_id""")
        con.execute("""CREATE OR REPLACE TEMP TABLE touched_customers AS
                       SELECT DISTINCT customer_id FROM batch WHERE customer_id IS NOT NULL""")
        con.execute("""CREATE OR REPLACE TEMP TABLE touched_days AS
                       SELECT DISTINCT CAST(strftime(ts, '%Y%m%d') AS INTEGER) AS date_key,
                              CAST(ts AS DATE) AS day FROM batch
                       UNION
                       SELECT DISTINCT date_key, CAST(ts AS DATE) FROM fact_orders
                       WHERE order_id IN (SELECT order_id FROM touched_orders)""")
        con.execute("""CREATE OR REPLACE TEMP TABLE touched_products AS
                       SELECT DISTINCT product_id FROM batch WHERE product_id IS NOT NULL
                       UNION
                       SELECT DISTINCT product_id FROM fact_orders
                       WHERE order_id IN (SELECT order_id FROM touched_orders)""")
        con.execute("CREATE OR REPLACE TEMP TABLE resessioned AS "
                    + sessions_sql('(SELECT * RENAME (ts AS "at") FROM fact_events WHERE '
                                   "customer_id IN (SELECT customer_id FROM touched_customers))"))
        con.execute("""DELETE FROM event_sessions
                       WHERE customer_id IN (SELECT customer_id FROM touched_customers)""")
        con.execute("""INSERT INTO event_sessions
                       SELECT event_id, customer_id, session_id FROM resessioned""")
        con.execute("""INSERT OR REPLACE INTO dim_customer
                       SELECT customer_id, min("at"), count(DISTINCT session_id)
                       FROM resessioned GROUP BY customer_id""")
        con.execute("""INSERT OR IGNORE INTO dim_date
                       SELECT date_key, day, year(day), month(day), isodow(day)
                       FROM touched_days""")
        con.execute("""INSERT OR REPLACE INTO dim_product
                       SELECT f.product_id, min(f.ts),
                              arg_max(f.unit_price_cents, (f.ts, f.event_id)),
                              sum(CASE WHEN o.status = 'cancelled' THEN 0 ELSE f.quantity END)
                       FROM fact_orders f LEFT JOIN dim_order o USING (order_id)
                       WHERE f.product_id IN (SELECT product_id FROM touched_products)
                       GROUP BY f.product_id""")
        con.execute("DELETE FROM agg_daily WHERE date_key IN (SELECT date_key FROM touched_days)")
        con.execute("""INSERT INTO agg_daily
                       SELECT date_key, count(DISTINCT order_id), sum(quantity),
                              sum(revenue_cents), count(DISTINCT customer_id)
                       FROM sold_lines
                       WHERE date_key IN (SELECT date_key FROM touched_days)
                       GROUP BY date_key""")
        con.execute(f"""INSERT OR REPLACE INTO stock_levels
                       SELECT product_id, arg_max(stock, (ts, event_id)), max(ts)
                       FROM fact_events
                       WHERE type = '{STOCK_CHANGED}' AND stock IS NOT NULL
                         AND product_id IN (SELECT product_id FROM touched_products)
                       GROUP BY product_id""")
        con.execute("DELETE FROM agg_funnel")
        for stage, (name, kind) in enumerate(FUNNEL):
            con.execute("""INSERT INTO agg_funnel SELECT ?, ?, count(DISTINCT s.session_id)
                           FROM fact_events e JOIN event_sessions s USING (event_id)
                           WHERE e.type = ?""",
                        [stage, name, kind])

    # -- reading -----------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {t: int(self.query(f"SELECT count(*) FROM {t}")[0][0])
                for t in (*TABLES, "loaded_files")}

    def digest(self) -> str:
        """A sha256 over every table's rows (sorted): two warehouses with the same digest
        hold the same data, however they were loaded."""
        h = hashlib.sha256()
        for table in TABLES:
            h.update(table.encode())
            for row in self.query(f"SELECT * FROM {table} ORDER BY ALL"):
                h.update(repr(row).encode())
        return h.hexdigest()


def _count(con: Any, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0
