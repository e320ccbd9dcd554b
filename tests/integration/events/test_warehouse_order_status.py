"""An order cancelled or paid in a later load moves the warehouse's numbers then: its lines
stay facts, but its revenue and units leave the daily aggregates and the product's sales,
however the loads are cut (one load of everything gives the same warehouse)."""

from __future__ import annotations

from pathlib import Path

from bazaar.pipeline import Lake, Warehouse, decode_batch, shop_event

T0 = 1_790_000_000.0


def _write(lake: Lake, values: list[bytes]) -> None:
    start = lake.next_offset("shop.events", 0) or 0
    offsets = list(range(start, start + len(values)))
    lake.write_batch("shop.events", 0, offsets[0], offsets[-1],
                     decode_batch("shop.events", 0, offsets, values, [0] * len(values)))


def _line(order: str, product: int, qty: int, price: int, at: float) -> bytes:
    return shop_event("order_placed", f"order-{order}-line-{product}", at, customer_id="7",
                      order_id=order, product_id=product, quantity=qty, price_cents=price)


BATCHES = [
    [_line("1", 1, 2, 100, T0), _line("1", 2, 1, 500, T0 + 1), _line("2", 1, 1, 100, T0 + 2)],
    [shop_event("order_cancelled", "order-1-cancelled", T0 + 86_400 * 2, customer_id="7",
                order_id="1"),
     shop_event("order_paid", "order-2-paid", T0 + 60, customer_id="7", order_id="2",
                price_cents=100),
     shop_event("order_cancelled", "order-1-cancelled", T0 + 86_400 * 2, customer_id="7",
                order_id="1")],  # published twice by the relay: one fact
]


def test_a_later_cancel_takes_the_order_out_of_the_numbers(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with Warehouse(tmp_path / "steps.duckdb") as steps:
        _write(lake, BATCHES[0])
        steps.load(lake)
        assert steps.query("SELECT sum(orders), sum(revenue_cents) FROM agg_daily") == [
            (2, 800)]
        _write(lake, BATCHES[1])
        steps.load(lake)
        assert dict(steps.query("SELECT order_id, status FROM dim_order")) == {
            "1": "cancelled", "2": "paid"}
        assert steps.query("SELECT sum(orders), sum(units), sum(revenue_cents) FROM agg_daily"
                           ) == [(1, 1, 100)]
        assert dict(steps.query("SELECT product_id, units_sold FROM dim_product")) == {
            1: 1, 2: 0}
        assert steps.query("SELECT count(*) FROM fact_orders")[0][0] == 3
        digest = steps.digest()
    with Warehouse(tmp_path / "once.duckdb") as once:
        once.load(lake)
        assert once.digest() == digest
