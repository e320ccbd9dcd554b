"""Log records → raw lake rows: both event shapes, garbage kept as _malformed, the fast batch
path equal to the record-by-record one."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.pipeline import RAW_SCHEMA, Record, decode, decode_batch, generate, shop_event, to_table


def test_a_shop_event_becomes_one_flat_row() -> None:
    value = shop_event("order_placed", "e1", 1_790_000_000.5, customer_id="7", order_id="o1",
                       product_id=3, quantity=2, price_cents=999)
    row = decode(Record("shop.events", 1, 42, value, 0))
    assert row["event_id"] == "e1" and row["type"] == "order_placed"
    assert row["at"] == 1_790_000_000_500
    assert (row["customer_id"], row["product_id"], row["quantity"], row["price_cents"]) == (
        "7", 3, 2, 999)
    assert (row["topic"], row["partition"], row["offset"]) == ("shop.events", 1, 42)


def test_a_checkout_saga_event_is_mapped_and_flattened() -> None:
    value = orjson.dumps({"event_id": "x", "type": "OrderCompleted", "order_id": "o9",
                          "data": {"customer_id": 5}, "at": 1_790_000_000.0})
    row = decode(Record("checkout.events", 0, 1, value, 0))
    assert row["type"] == "checkout_completed" and row["order_id"] == "o9"
    assert row["customer_id"] == "5"
    other = orjson.dumps({"event_id": "y", "type": "PaymentCharged", "order_id": "o9",
                          "data": {}})
    assert decode(Record("checkout.events", 0, 2, other, 7))["type"] == "payment_charged"


def test_garbage_is_kept_as_malformed_with_its_bytes_and_the_log_time() -> None:
    row = decode(Record("t", 0, 5, b"\x00\xffnope", 1234))
    assert row["type"] == "_malformed" and row["event_id"] == "t:0:5"
    assert row["at"] == 1234 and row["payload"].startswith("\x00")
    assert decode(Record("t", 0, 6, None, 0))["type"] == "_malformed"
    assert decode(Record("t", 0, 7, b"[1, 2]", 0))["type"] == "_malformed"


def test_huge_numbers_and_wrong_types_are_nulls_not_errors() -> None:
    value = json.dumps({"event_id": "e", "type": "cart_added", "at": "yesterday",
                        "quantity": 10**30, "price_cents": True, "product_id": "3"}).encode()
    row = decode(Record("t", 0, 0, value, 99))
    assert row["quantity"] is None and row["price_cents"] is None
    assert row["product_id"] is None and row["at"] == 99
    assert to_table([row]).schema == RAW_SCHEMA


def test_generated_events_decode_in_batches_exactly_as_one_by_one() -> None:
    values = [v for chunk in generate(3_000, seed=3) for _, v in chunk]
    offsets = list(range(100, 100 + len(values)))
    stamps = [5] * len(values)
    fast = decode_batch("shop.events", 2, offsets, values, stamps)
    slow = to_table(decode(Record("shop.events", 2, o, v, 5))
                    for o, v in zip(offsets, values, strict=True))
    assert fast.equals(slow)
    assert "_malformed" in fast.column("type").to_pylist()  # the generator's dirt is there


_field = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                   st.floats(allow_nan=False), st.text(max_size=5))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.binary(max_size=20),
    st.fixed_dictionaries({"event_id": _field, "type": st.one_of(_field, st.just("cart_added")),
                           "at": _field, "quantity": _field, "customer_id": _field}
                          ).map(lambda d: json.dumps(d).encode())), min_size=1, max_size=40))
def test_any_bytes_decode_the_same_in_a_batch(values: list[bytes]) -> None:
    offsets = list(range(len(values)))
    stamps = [1] * len(values)
    fast = decode_batch("t", 0, offsets, list(values), stamps)
    slow = to_table(decode(Record("t", 0, o, v, 1)) for o, v in zip(offsets, values,
                                                                     strict=True))
    assert fast.to_pylist() == slow.to_pylist()


def test_a_batch_decoded_in_any_order_holds_the_same_rows() -> None:
    values = [v for chunk in generate(2_000, seed=5) for _, v in chunk]
    offsets = range(10, 10 + len(values))
    ordered = decode_batch("shop.events", 1, offsets, values, [3] * len(values))
    loose = decode_batch("shop.events", 1, offsets, values, [3] * len(values), in_order=False)
    assert ordered.column("offset").to_pylist() == list(offsets)
    assert loose.sort_by("offset").equals(ordered)
    assert loose.column("offset").to_pylist() != list(offsets)  # the generator's dirt moved
