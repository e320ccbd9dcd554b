"""The live alert rules, without a log: low stock once per dip, order spikes once per window."""

from __future__ import annotations

from bazaar.pipeline import Rules


def _stock(product: object, stock: object) -> dict[str, object]:
    return {"type": "stock_changed", "product_id": product, "stock": stock, "at": 1.0}


def test_low_stock_alerts_once_per_dip_under_the_threshold() -> None:
    rules = Rules(low_stock=10)
    assert rules.feed(_stock(1, 11), 0) is None
    alert = rules.feed(_stock(1, 9), 5)
    assert alert is not None and alert.kind == "low_stock"
    assert alert.data == {"product_id": 1, "stock": 9} and alert.event_at == 1.0
    assert rules.feed(_stock(1, 3), 6) is None  # still low: no repeat
    assert rules.feed(_stock(1, 50), 7) is None  # restocked
    assert rules.feed(_stock(1, 2), 8) is not None  # a new dip
    assert rules.feed(_stock(2, 0), 9) is not None  # another product


def test_malformed_stock_events_raise_nothing() -> None:
    rules = Rules(low_stock=10)
    for bad in (_stock("1", 0), _stock(1, None), _stock(None, 0), {"type": "stock_changed"},
                {"type": 5}, {}):
        assert rules.feed(bad, 0) is None


def test_an_order_spike_alerts_then_stays_quiet_for_a_window() -> None:
    rules = Rules(spike_orders=3, spike_window_s=10)
    order = {"type": "order_placed", "at": 1.0}
    assert [rules.feed(order, t) for t in (0, 1, 2)] == [None, None, None]
    alert = rules.feed(order, 3)
    assert alert is not None and alert.kind == "order_spike" and alert.data["orders"] == 4
    assert rules.feed(order, 4) is None  # quiet until t = 13
    assert [rules.feed(order, t) for t in (10, 11, 12)] == [None, None, None]
    again = rules.feed(order, 13.5)  # 4, 10, 11, 12, 13.5: still a spike, and the quiet is over
    assert again is not None and again.data["orders"] == 5
    spread = Rules(spike_orders=3, spike_window_s=1)
    assert all(spread.feed(order, t * 2.0) is None for t in range(20))
