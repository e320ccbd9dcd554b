"""Preparation (DuckDB and the pandas baseline give the same rows) and the warehouse (loads in
any steps equal one load; numbers equal what was generated)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pyarrow as pa
from tests.support.pipeline import fill_lake

from bazaar.pipeline import (
    Lake,
    Shape,
    Warehouse,
    decode_batch,
    digest,
    generate,
    prepare_duckdb,
    prepare_pandas,
    shop_event,
)

T0 = 1_790_000_000.0


def _write(lake: Lake, values: list[bytes]) -> None:
    start = lake.next_offset("shop.events", 0) or 0
    offsets = list(range(start, start + len(values)))
    lake.write_batch("shop.events", 0, offsets[0], offsets[-1],
                     decode_batch("shop.events", 0, offsets, values, [0] * len(values)))


def test_cleaning_normalisation_dedup_and_sessions(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    view = shop_event("product_viewed", "v1", T0, customer_id="c1", product_id=1)
    _write(lake, [
        view, view,                                                     # a re-sent duplicate
        shop_event("  Cart_Added ", "a1", T0 + 60, customer_id=" c1 ", product_id=1,
                   quantity=1),                                         # normalised
        shop_event("cart_added", "bad", T0 + 61, customer_id="c1", quantity=-1),  # dropped
        shop_event("order_placed", "noprice", T0 + 62, customer_id="c1", product_id=1,
                   quantity=1),                                         # dropped: no price
        shop_event("teleported", "odd", T0 + 63, customer_id="c1"),    # unknown type
        b"\x00garbage",
        shop_event("product_viewed", "v2", T0 + 60 + 31 * 60, customer_id="c1",
                   product_id=2),                                       # > 30 min: session 2
        shop_event("stock_changed", "s1", T0 + 5, product_id=1, stock=3),
    ])
    rows = {r["event_id"]: r for r in prepare_duckdb(lake.paths()).to_pylist()}
    assert set(rows) == {"v1", "a1", "v2", "s1"}
    assert rows["a1"]["type"] == "cart_added" and rows["a1"]["customer_id"] == "c1"
    assert rows["v1"]["session_id"] == rows["a1"]["session_id"] == "c1#1"
    assert rows["v2"]["session_id"] == "c1#2"
    assert rows["s1"]["session_id"] is None
    assert digest(prepare_pandas(lake.paths())) == digest(prepare_duckdb(lake.paths()))


def test_duckdb_and_the_pandas_baseline_give_identical_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 20_000, seed=5, batch=3_000)
    duck, pandas = prepare_duckdb(lake.paths()), prepare_pandas(lake.paths())
    assert duck.num_rows > 19_000
    assert digest(duck) == digest(pandas)


def test_the_warehouse_holds_what_was_generated(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    shape = Shape(days=1, duplicate_rate=0.0, dirty_rate=0.0)
    fill_lake(lake, 5_000, seed=2, shape=shape)
    revenue: Counter[str] = Counter()
    units: Counter[int] = Counter()
    last_stock: dict[int, int] = {}
    for chunk in generate(5_000, seed=2, shape=shape):
        for _, value in chunk:
            doc = orjson.loads(value)
            if doc["type"] == "order_placed":
                day = pa.scalar(int(doc["at"] * 1000), pa.timestamp("ms", tz="UTC"))
                revenue[day.as_py().strftime("%Y%m%d")] += doc["quantity"] * doc["price_cents"]
                units[doc["product_id"]] += doc["quantity"]
            if doc["type"] == "stock_changed":
                last_stock[doc["product_id"]] = doc["stock"]
    with Warehouse(tmp_path / "wh.duckdb") as wh:
        stats = wh.load(lake)
        assert stats.files == len(lake.files()) and stats.facts_added == stats.rows_in > 0
        daily = {str(k): v for k, v in wh.query("SELECT date_key, revenue_cents FROM agg_daily")}
        assert daily == dict(revenue)
        assert dict(wh.query("SELECT product_id, units_sold FROM dim_product")) == dict(units)
        assert dict(wh.query("SELECT product_id, stock FROM stock_levels")) == last_stock
        funnel = [r[0] for r in wh.query("SELECT sessions FROM agg_funnel ORDER BY stage")]
        assert funnel[0] >= funnel[1] >= funnel[2] > 0 and funnel[3] == funnel[2]


def test_loads_in_steps_equal_one_load_and_a_replay_adds_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 12_000, seed=9, batch=2_000)
    with Warehouse(tmp_path / "once.duckdb") as once:
        once.load(lake)
        expected = once.digest()
    with Warehouse(tmp_path / "steps.duckdb") as steps:
        while steps.load(lake, max_files=7).files:
            pass
        assert steps.digest() == expected
        # The same files again (a replay after a crash, say): keyed by event id, nothing new.
        steps.query("DELETE FROM loaded_files")
        assert steps.load(lake).facts_added == 0
        assert steps.digest() == expected
        assert steps.pending(lake) == []
