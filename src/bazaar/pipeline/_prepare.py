"""Preparation: cleaning, normalisation, deduplication and sessionisation of the raw lake.

The steps are written once as SQL for DuckDB (the embedded default) and once as pandas
frame operations that run on one machine (the baseline) or on a Dask cluster over the same
Parquet files; all three give the same rows (:func:`digest` compares them).

- cleaning: rows without an event id or time, unknown types, negative quantities or prices,
  orders without a product, quantity or price are dropped;
- normalisation: types trimmed and lower-cased, empty customer ids become null;
- deduplication: one row per event id, the first by (topic, partition, offset);
- sessionisation: per customer, in time order, a gap over 30 minutes starts a new session;
  ``session_id`` is ``customer#n``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa

from bazaar.pipeline._events import KNOWN_TYPES, ORDER_PLACED

SESSION_GAP_S = 30 * 60
COLUMNS = ["event_id", "type", "at", "customer_id", "product_id", "order_id", "quantity",
           "price_cents", "stock", "session_id"]
_TYPES = ", ".join(f"'{t}'" for t in KNOWN_TYPES)


def clean_sql(source: str) -> str:
    """Cleaning, normalisation and deduplication of ``source`` (a table or a read_parquet)."""
    return f"""
    WITH cleaned AS (
      SELECT trim(event_id) AS event_id, lower(trim("type")) AS "type", "at",
             nullif(trim(customer_id), '') AS customer_id, product_id, order_id,
             quantity, price_cents, stock, topic, "partition", "offset"
      FROM {source}
      WHERE event_id IS NOT NULL AND "at" IS NOT NULL
    ), valid AS (
      SELECT * FROM cleaned
      WHERE "type" IN ({_TYPES})
        AND coalesce(quantity, 0) >= 0 AND coalesce(price_cents, 0) >= 0
        AND ("type" <> '{ORDER_PLACED}'
             OR (product_id IS NOT NULL AND quantity > 0 AND price_cents IS NOT NULL))
    )
    SELECT event_id, "type", "at", customer_id, product_id, order_id, quantity,
           price_cents, stock
    FROM valid
    QUALIFY row_number() OVER (PARTITION BY event_id
                               ORDER BY topic, "partition", "offset") = 1
    """


def sessions_sql(source: str) -> str:
    """``source``'s rows with ``session_id`` (null for events without a customer)."""
    return f"""
    WITH marked AS (
      SELECT *, CASE WHEN lag("at") OVER w IS NULL
                       OR epoch("at") - epoch(lag("at") OVER w) > {SESSION_GAP_S}
                     THEN 1 ELSE 0 END AS new_session
      FROM {source} WINDOW w AS (PARTITION BY customer_id ORDER BY "at", event_id)
    )
    SELECT {", ".join(f'"{c}"' for c in COLUMNS if c != "session_id")},
           CASE WHEN customer_id IS NULL THEN NULL
                ELSE customer_id || '#' || sum(new_session) OVER (
                  PARTITION BY customer_id ORDER BY "at", event_id
                  ROWS UNBOUNDED PRECEDING) END AS session_id
    FROM marked
    """


def parquet_source(paths: list[str]) -> str:
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def prepare_duckdb(paths: list[str], *, threads: int | None = None) -> pa.Table:
    """The prepared rows of the lake files ``paths``, by DuckDB."""
    import duckdb

    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TEMP TABLE clean AS {clean_sql(parquet_source(paths))}")
        table: pa.Table = con.sql(sessions_sql("clean")).to_arrow_table()
        return table
    finally:
        con.close()


# -- the same steps on pandas frames (one machine, or each Dask partition) ---------------------
def clean_frame(df: Any) -> Any:
    """Cleaning and normalisation of a pandas frame of raw rows (no deduplication)."""
    import pandas as pd

    df = df[df["event_id"].notna() & df["at"].notna()].copy()
    df["event_id"] = df["event_id"].str.strip()
    df["type"] = df["type"].str.strip().str.lower()
    customer = df["customer_id"].str.strip()
    df["customer_id"] = customer.where(customer != "", None)
    qty, price = df["quantity"], df["price_cents"]
    ok = (df["type"].isin(KNOWN_TYPES) & ~(qty < 0).fillna(False)
          & ~(price < 0).fillna(False))
    order = df["type"] == ORDER_PLACED
    ok &= ~order | (df["product_id"].notna() & (qty > 0).fillna(False) & price.notna())
    out = df[ok.astype(bool)]
    return out.astype({"quantity": pd.Int64Dtype(), "price_cents": pd.Int64Dtype(),
                       "product_id": pd.Int64Dtype(), "stock": pd.Int64Dtype()})


def dedup_frame(df: Any) -> Any:
    """One row per event id: the first by (topic, partition, offset)."""
    df = df.sort_values(["topic", "partition", "offset"], kind="stable")
    return df.drop_duplicates("event_id", keep="first")


def sessionise_frame(df: Any) -> Any:
    """``session_id`` for every row that has a customer (rows of one customer together)."""
    df = df.sort_values(["customer_id", "at", "event_id"], kind="stable")
    has = df["customer_id"].notna()
    seconds = df["at"].astype("int64") / 1e9 if str(df["at"].dtype).startswith(
        "datetime64[ns") else df["at"].astype("int64") / _per_second(df["at"].dtype)
    gap = seconds.groupby(df["customer_id"]).diff()
    new = (gap.isna() | (gap > SESSION_GAP_S)).astype("int64")
    number = new.groupby(df["customer_id"]).cumsum()
    session = df["customer_id"] + "#" + number.astype("Int64").astype("string")
    df = df.assign(session_id=session.where(has, None))
    return df[COLUMNS]


def _per_second(dtype: Any) -> float:
    unit = str(dtype).split("[")[1].split(",")[0].rstrip("]")
    return {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]


def prepare_pandas(paths: list[str]) -> pa.Table:
    """The same preparation on one pandas frame (the baseline the bench compares against)."""
    from bazaar.pipeline._lake import read_table

    df = read_table(paths).to_pandas(types_mapper=_mapper)
    return _to_arrow(sessionise_frame(dedup_frame(clean_frame(df))))


def _mapper(t: pa.DataType) -> Any:
    import pandas as pd

    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pd.StringDtype()
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    return None


def _to_arrow(df: Any) -> pa.Table:
    return pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)


def digest(table: pa.Table) -> tuple[int, str]:
    """(rows, sha256) of a prepared table, independent of row order and physical types:
    equal digests mean the same rows with the same values."""
    import pyarrow.compute as pc

    cols = []
    for name in COLUMNS:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            col = pc.cast(pc.cast(col, pa.timestamp("ms", tz="UTC")), pa.int64())
        cols.append(pc.cast(col, pa.string()).to_pylist())
    lines = sorted("\x1f".join("" if v is None else v for v in row) for row in zip(*cols,
                                                                                   strict=True))
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return len(lines), h.hexdigest()
