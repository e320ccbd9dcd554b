"""The events the pipeline ingests, and how a log record becomes a row of the raw lake.

Two shapes arrive on the log: the shop's flat events (``shop.events``: views, cart adds,
orders, stock changes, clickstream) and the checkout saga's events (``checkout.events``:
``{"type": "OrderPlaced", "order_id", "data", "at", "event_id"}``). Both become one flat row.
Nothing is dropped here: a record that is not valid JSON is kept as type ``_malformed`` with
its bytes, so the lake holds everything the log held; cleaning decides later.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

SHOP_TOPIC = "shop.events"
CHECKOUT_TOPIC = "checkout.events"

VIEWED, CART_ADDED, CHECKOUT_STARTED = "product_viewed", "cart_added", "checkout_started"
ORDER_PLACED, STOCK_CHANGED = "order_placed", "stock_changed"
CHECKOUT_COMPLETED, CHECKOUT_FAILED = "checkout_completed", "checkout_failed"
ORDER_PAID, ORDER_CANCELLED, USER_SIGNED_UP = "order_paid", "order_cancelled", "user_signed_up"
MALFORMED = "_malformed"
#: Event types the preparation keeps; anything else is cleaned away.
KNOWN_TYPES = (VIEWED, CART_ADDED, CHECKOUT_STARTED, ORDER_PLACED, STOCK_CHANGED,
               CHECKOUT_COMPLETED, CHECKOUT_FAILED, ORDER_PAID, ORDER_CANCELLED, USER_SIGNED_UP)
#: The version of the flat shape (``"v"`` in each event; absent means 1): a new optional
#: field keeps it, a field removed or changed in meaning bumps it.
SCHEMA_VERSION = 1
#: The checkout saga's names → ours (the rest of its steps are not analytics events).
SAGA_TYPES = {"OrderPlaced": CHECKOUT_STARTED, "OrderCompleted": CHECKOUT_COMPLETED,
              "OrderFailed": CHECKOUT_FAILED}

RAW_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("type", pa.string()), ("at", pa.timestamp("ms", tz="UTC")),
    ("customer_id", pa.string()), ("session_id", pa.string()), ("product_id", pa.int64()),
    ("order_id", pa.string()), ("quantity", pa.int64()), ("price_cents", pa.int64()),
    ("stock", pa.int64()), ("payload", pa.string()),
    ("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()),
])
_INT_FIELDS = ("product_id", "quantity", "price_cents", "stock")
_STR_FIELDS = ("customer_id", "session_id", "order_id")
_LIMIT = 2**63  # a "huge number" (past int64) is refused as a value, not wrapped
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass(frozen=True)
class Record:
    """One record read from the log (what any Kafka client hands over)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp_ms: int


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
        return None
    i = int(v)
    return i if -_LIMIT <= i < _LIMIT else None


def _str(v: Any) -> str | None:
    if v is None or isinstance(v, bool) or not isinstance(v, str | int):
        return None
    return str(v)


def decode(record: Record) -> dict[str, Any]:
    """One raw-lake row from a log record (never raises: bad input is a ``_malformed`` row)."""
    row: dict[str, Any] = {"topic": record.topic, "partition": record.partition,
                           "offset": record.offset, "payload": None}
    try:
        doc = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        row.update(event_id=f"{record.topic}:{record.partition}:{record.offset}",
                   type=MALFORMED, at=record.timestamp_ms,
                   payload=(record.value or b"")[:4096].decode("utf-8", "replace"))
        return row
    nested = doc.get("data")
    data: dict[str, Any] = nested if isinstance(nested, dict) else {}
    kind = doc["type"]
    if "data" in doc:  # the checkout saga's shape
        kind = SAGA_TYPES.get(kind, _CAMEL.sub("_", kind).lower())
    merged = {**data, **doc}
    at = merged.get("at")
    at_ms = int(at * 1000) if isinstance(at, int | float) and 0 <= at < 1e11 else None
    row.update(event_id=_str(doc.get("event_id")), type=kind,
               at=at_ms if at_ms is not None else record.timestamp_ms)
    for name in _INT_FIELDS:
        row[name] = _int(merged.get(name))
    for name in _STR_FIELDS:
        row[name] = _str(merged.get(name))
    return row


def to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows (from :func:`decode`) as an Arrow table of :data:`RAW_SCHEMA`."""
    rows = list(rows)
    return pa.Table.from_pydict(
        {f.name: [r.get(f.name) for r in rows] for f in RAW_SCHEMA}, schema=RAW_SCHEMA)


def shop_event(type: str, event_id: str, at: float, **fields: Any) -> bytes:
    """The JSON a producer puts on :data:`SHOP_TOPIC` for one event."""
    return orjson.dumps({"v": SCHEMA_VERSION, "event_id": event_id, "type": type, "at": at,
                         **fields})


_JSON_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("type", pa.string()), ("at", pa.float64()),
    ("customer_id", pa.string()), ("session_id", pa.string()), ("product_id", pa.int64()),
    ("order_id", pa.string()), ("quantity", pa.int64()), ("price_cents", pa.int64()),
    ("stock", pa.int64()),
])


def decode_batch(topic: str, partition: int, offsets: Sequence[int],
                 values: Sequence[bytes | None], timestamps_ms: Sequence[int], *,
                 in_order: bool = True) -> pa.Table:
    """:func:`decode` of many records at once, as a :data:`RAW_SCHEMA` table in offset order
    (``in_order=False``: in any order, for a caller that sorts the rows itself).

    The records that look like flat one-line JSON objects are parsed together in one call of
    Arrow's C++ JSON reader (the rest, and any the reader refuses, go record by record through
    :func:`decode`, with the same result). ``timestamps_ms`` is read only where an event has
    no usable ``at`` of its own, so it may be a lazy sequence.
    """
    n = len(values)
    fast = _flat_candidates(values)
    if len(fast) == n:
        return _decode_range(topic, partition, offsets, values, timestamps_ms, list(range(n)))
    fast_set = set(fast)
    slow = [i for i in range(n) if i not in fast_set]
    parts = [_decode_range(topic, partition, offsets, values, timestamps_ms, fast)] if fast \
        else []
    parts.append(_by_record(topic, partition, offsets, values, timestamps_ms, slow))
    table = pa.concat_tables(parts)
    if not in_order:
        return table
    order = np.argsort(np.asarray(fast + slow, dtype=np.int64), kind="stable")
    return table.take(pa.array(order))


def _flat_candidates(values: Sequence[bytes | None]) -> list[int]:
    """The indexes of values that look like flat one-line JSON objects: checked over the
    joined bytes with numpy (first byte ``{``, no newline inside, no nested ``"data"``), one
    by one only where the joined bytes cannot tell."""
    n = len(values)
    if n == 0 or None in values:
        return [i for i, v in enumerate(values)
                if v and v[:1] == b"{" and b"\n" not in v and b'"data"' not in v]
    present = cast("Sequence[bytes]", values)
    blob = b"\n".join(present)
    raw = np.frombuffer(blob, dtype=np.uint8)
    lengths = np.fromiter(map(len, present), dtype=np.int64, count=n)
    starts = np.r_[0, np.cumsum(lengths + 1)[:-1]]
    ok = lengths > 0
    ok[ok] = raw[starts[ok]] == ord("{")
    if int(np.count_nonzero(raw == 10)) != n - 1:  # a newline inside some value
        ok &= np.fromiter((b"\n" not in v for v in present), dtype=np.bool_, count=n)
    if b'"data"' in blob:  # the checkout saga's nested shape, somewhere
        ok &= np.fromiter((b'"data"' not in v for v in present), dtype=np.bool_, count=n)
    return np.flatnonzero(ok).tolist()


def _by_record(topic: str, partition: int, offsets: Sequence[int],
               values: Sequence[bytes | None], stamps: Sequence[int],
               rows: list[int]) -> pa.Table:
    return to_table(decode(Record(topic, partition, offsets[i], values[i], stamps[i]))
                    for i in rows)


def _decode_range(topic: str, partition: int, offsets: Sequence[int],
                  values: Sequence[bytes | None], stamps: Sequence[int],
                  rows: list[int]) -> pa.Table:
    fast = _fast(topic, partition, offsets, values, stamps, rows)
    if fast is not None:
        return fast
    if len(rows) <= 32:
        return _by_record(topic, partition, offsets, values, stamps, rows)
    mid = len(rows) // 2  # bisect down to the records the fast path cannot take
    return pa.concat_tables([
        _decode_range(topic, partition, offsets, values, stamps, rows[:mid]),
        _decode_range(topic, partition, offsets, values, stamps, rows[mid:])])


def _fast(topic: str, partition: int, offsets: Sequence[int], values: Sequence[bytes | None],
          timestamps_ms: Sequence[int], rows: list[int]) -> pa.Table | None:
    n = len(rows)
    if n == 0:
        return None
    whole = n == len(values)
    # Only non-empty values come here (decode_batch's filter).
    chosen = cast("Sequence[bytes]", values) if whole else [values[i] or b"" for i in rows]
    blob = b"\n".join(chosen)
    try:
        # Arrow's default 1 MiB blocks are parsed on its thread pool (measured faster than
        # one block per batch, and than msgspec into structs then columns).
        parsed = pj.read_json(
            pa.BufferReader(blob), parse_options=pj.ParseOptions(explicit_schema=_JSON_SCHEMA,
                                          unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if parsed.num_rows != n or parsed.column("type").null_count:
        return None
    at = parsed.column("at")
    ok = pc.fill_null(pc.and_(pc.greater_equal(at, 0.0), pc.less(at, 1e11)), False)
    millis = pc.cast(pc.multiply(pc.fill_null(at, 0.0), 1000.0), pa.int64(), safe=False)
    bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False))
    if len(bad):  # no time of its own: the log's
        fallback = millis.to_numpy().copy()
        for j in bad.tolist():
            fallback[j] = timestamps_ms[rows[j]]
        millis = pa.array(fallback, pa.int64())
    cols = {f.name: parsed.column(f.name) for f in _JSON_SCHEMA}
    cols["at"] = pc.cast(millis, pa.timestamp("ms", tz="UTC"))
    cols["payload"] = pa.nulls(n, pa.string())
    cols["topic"] = pa.repeat(pa.scalar(topic, pa.string()), n)
    cols["partition"] = pa.repeat(pa.scalar(partition, pa.int32()), n)
    every = (np.arange(offsets.start, offsets.stop, offsets.step, dtype=np.int64)
             if isinstance(offsets, range) else np.asarray(offsets, dtype=np.int64))
    cols["offset"] = pa.array(every if whole else every[rows])
    return pa.Table.from_pydict({f.name: cols[f.name] for f in RAW_SCHEMA}, schema=RAW_SCHEMA)
