"""A synthetic shop for scale: deterministic streams of shop events (``seed`` → same bytes).

Customers browse in sessions (views, cart adds, a checkout, order lines) spread over ``days``;
stock falls with every order line and is announced by ``stock_changed``. A little dirt is
mixed in on purpose, as a real feed has it: re-sent duplicates (an outbox relay publishing a
row twice), types in odd case and spacing, negative quantities, and bytes that are not JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from bazaar.pipeline import _events as ev


@dataclass(frozen=True)
class Shape:
    """What a generated stream looks like."""

    products: int = 200
    customers: int = 5_000
    days: int = 7
    start: float = 1_790_000_000.0  # 2026-09-21 UTC: fixed, so runs compare
    duplicate_rate: float = 0.01
    dirty_rate: float = 0.005
    initial_stock: int = 1_000_000


def prices(shape: Shape) -> np.ndarray:
    """Each product's unit price in cents (product ids are 1..products)."""
    return 199 + (np.arange(1, shape.products + 1) * 7919) % 9800


def generate(n: int, *, seed: int = 0, shape: Shape | None = None,
             chunk: int = 50_000) -> Iterator[list[tuple[bytes, bytes]]]:
    """About ``n`` events as (key, value) chunks; the key is the customer (so one customer's
    events stay in order on one log partition)."""
    shape = shape or Shape()
    rng = np.random.default_rng(seed)
    price = prices(shape)
    stock = np.full(shape.products + 1, shape.initial_stock, dtype=np.int64)
    span = shape.days * 86_400.0
    made, serial = 0, 0
    clock = 0.0  # stock changes are announced in time order, as the shop commits them
    while made < n:
        out: list[tuple[bytes, bytes]] = []
        while len(out) < chunk and made + len(out) < n:
            serial += 1
            customer = int(rng.integers(1, shape.customers + 1))
            # Sessions start in time order (a live feed), a few minutes of jitter each.
            at = shape.start + span * serial / max(n / 6, 1) + float(rng.random()) * 300
            sid = f"s{seed}-{serial}"
            cust = str(customer)
            key = cust.encode()
            views = int(rng.integers(1, 8))
            products = rng.integers(1, shape.products + 1, size=views)
            for i, p in enumerate(products):
                at += float(rng.exponential(40.0))
                out.append((key, _value(ev.VIEWED, f"{sid}-v{i}", at, customer_id=cust,
                                        session_id=sid, product_id=int(p))))
            if rng.random() < 0.35:
                lines = sorted(set(int(p) for p in products[: int(rng.integers(1, 4))]))
                for p in lines:
                    at += float(rng.exponential(20.0))
                    out.append((key, _value(ev.CART_ADDED, f"{sid}-c{p}", at, customer_id=cust,
                                            session_id=sid, product_id=p, quantity=1)))
                if rng.random() < 0.6:
                    order = f"o{seed}-{serial}"
                    at += float(rng.exponential(30.0))
                    out.append((key, _value(ev.CHECKOUT_STARTED, f"{sid}-k", at,
                                            customer_id=cust, session_id=sid, order_id=order)))
                    for p in lines:
                        qty = int(rng.integers(1, 4))
                        stock[p] -= qty
                        clock = max(clock + 0.002, at)
                        out.append((key, _value(ev.ORDER_PLACED, f"{order}-{p}", at,
                                                customer_id=cust, session_id=sid, order_id=order,
                                                product_id=p, quantity=qty,
                                                price_cents=int(price[p - 1]))))
                        out.append((str(p).encode(), _value(
                            ev.STOCK_CHANGED, f"{order}-{p}-s", clock, product_id=p,
                            stock=int(stock[p]))))
            if rng.random() < shape.duplicate_rate * 5 and out:
                out.append(out[-1])  # re-sent as is: same event id
            if rng.random() < shape.dirty_rate * 5:
                out.append((key, _dirty(rng, sid, at, cust)))
        made += len(out)
        yield out


def _value(type: str, event_id: str, at: float, **fields: object) -> bytes:
    return ev.shop_event(type, event_id, round(at, 3), **fields)


def _dirty(rng: np.random.Generator, sid: str, at: float, customer: str) -> bytes:
    pick = int(rng.integers(0, 3))
    if pick == 0:
        return b"\x00\xffnot json{"
    if pick == 1:  # odd case and spacing: normalised, kept
        return orjson.dumps({"event_id": f"{sid}-x", "type": "  Product_Viewed ",
                             "at": round(at, 3), "customer_id": customer, "session_id": sid,
                             "product_id": 1})
    return orjson.dumps({"event_id": f"{sid}-n", "type": ev.CART_ADDED, "at": round(at, 3),
                         "customer_id": customer, "product_id": 1, "quantity": -5})
