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
from typing import Any

import orjson
import pyarrow as pa

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
                 values: Sequence[bytes | None], timestamps_ms: Sequence[int]) -> pa.Table:
    """:func:`decode` of many records at once, as a :data:`RAW_SCHEMA` table.

    The fast path parses the batch in Arrow's C++ JSON reader; a batch it cannot take whole
    (a record that is not flat JSON of the expected types, an embedded newline, the saga's
    nested shape) goes record by record through :func:`decode`, with the same result.
    """
    parts: list[pa.Table] = []
    lo = 0
    for i, v in enumerate(values):  # runs of one-line JSON objects go to the fast path
        if not v or v[:1] != b"{" or b"\n" in v:
            if lo < i:
                parts.append(_decode_range(topic, partition, offsets, values, timestamps_ms,
                                           lo, i))
            parts.append(to_table([decode(Record(topic, partition, offsets[i], v,
                                                 timestamps_ms[i]))]))
            lo = i + 1
    if lo < len(values) or not parts:
        parts.append(_decode_range(topic, partition, offsets, values, timestamps_ms, lo,
                                   len(values)))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def _decode_range(topic: str, partition: int, offsets: Sequence[int],
                  values: Sequence[bytes | None], stamps: Sequence[int], lo: int,
                  hi: int) -> pa.Table:
    fast = _fast(topic, partition, offsets[lo:hi], values[lo:hi], stamps[lo:hi])
    if fast is not None:
        return fast
    if hi - lo <= 32:
        return to_table(decode(Record(topic, partition, offsets[i], values[i], stamps[i]))
                        for i in range(lo, hi))
    mid = (lo + hi) // 2  # bisect down to the records the fast path cannot take
    return pa.concat_tables([
        _decode_range(topic, partition, offsets, values, stamps, lo, mid),
        _decode_range(topic, partition, offsets, values, stamps, mid, hi)])


def _fast(topic: str, partition: int, offsets: Sequence[int], values: Sequence[bytes | None],
          timestamps_ms: Sequence[int]) -> pa.Table | None:
    import pyarrow.compute as pc
    import pyarrow.json as pj

    n = len(values)
    blob = b"\n".join([v or b"" for v in values])
    if n > 0 and b'"data"' not in blob:
        try:
            parsed = pj.read_json(pa.BufferReader(blob), parse_options=pj.ParseOptions(
                explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore"))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            parsed = None
        if parsed is not None and parsed.num_rows == n and parsed.column("type").null_count == 0:
            at = parsed.column("at")
            ok = pc.and_(pc.greater_equal(at, 0.0), pc.less(at, 1e11))
            stamps = pa.array(timestamps_ms, pa.int64())
            millis = pc.if_else(pc.fill_null(ok, False),
                                pc.cast(pc.multiply(pc.fill_null(at, 0.0), 1000.0), pa.int64(),
                                        safe=False), stamps)
            cols = {f.name: parsed.column(f.name) for f in _JSON_SCHEMA}
            cols["at"] = pc.cast(millis, pa.timestamp("ms", tz="UTC"))
            cols["payload"] = pa.nulls(n, pa.string())
            cols["topic"] = pa.array([topic] * n, pa.string())
            cols["partition"] = pa.array([partition] * n, pa.int32())
            cols["offset"] = pa.array(offsets, pa.int64())
            return pa.Table.from_pydict({f.name: cols[f.name] for f in RAW_SCHEMA},
                                        schema=RAW_SCHEMA)
    return None
