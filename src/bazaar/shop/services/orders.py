"""Orders: place (all lines or none, at most once per ``Idempotency-Key``), read, cancel."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from bazaar.shop.domain import (
    IdempotencyKeyReused,
    InvalidInput,
    LineRequest,
    NotFound,
    Order,
    OrderLine,
    RetryableConflict,
    SoldOut,
    normalise_lines,
)
from bazaar.shop.services import events
from bazaar.shop.services.catalog import check_page
from bazaar.shop.services.ports import KeyAlreadyClaimed
from bazaar.shop.services.shop import Shop
from bazaar.shop.services.views import LineView, OrderView, Page, PlacedOrder

MAX_KEY_LENGTH = 255


def order_view(order: Order) -> OrderView:
    assert order.id is not None
    return OrderView(order.id, order.user_id, str(order.status), order.total_cents,
                     tuple(LineView(ln.product_id, ln.quantity, ln.unit_price_cents)
                           for ln in order.lines))


def request_hash(lines: Sequence[LineRequest]) -> str:
    """A fingerprint of the (normalised) order, to tell a retry from a different order."""
    body = json.dumps([[ln.product_id, ln.quantity] for ln in lines], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput("Idempotency-Key",
                           f"must be 1-{MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _replay(shop: Shop, user_id: int, key: str, digest: str) -> PlacedOrder | None:
    with shop.uow() as uow:
        record = uow.idempotency.find(user_id, key)
        if record is None:
            return None
        if record.request_hash != digest:
            raise IdempotencyKeyReused(key)
        if record.order_id is None:  # only inside an uncommitted transaction; not visible
            return None
        order = uow.orders.get(record.order_id)
        if order is None:
            return None
        return PlacedOrder(order_view(order), replayed=True)


def place_order(shop: Shop, user_id: int, lines: Sequence[LineRequest],
                idempotency_key: str | None = None) -> PlacedOrder:
    """Reserve every line's stock and record the order in one transaction.

    With a key, the first request that commits wins; a retry (even one racing the first)
    gets the first one's order back with ``replayed=True``, and nothing is ordered twice.
    """
    wanted = normalise_lines(lines)
    digest = request_hash(wanted)
    if idempotency_key is not None:
        check_key(idempotency_key)
        earlier = _replay(shop, user_id, idempotency_key, digest)
        if earlier is not None:
            return earlier

    def attempt() -> OrderView:
        with shop.uow() as uow:
            if idempotency_key is not None:
                # First write of the transaction: a concurrent request with the same key
                # waits here for us, then finds our order.
                uow.idempotency.claim(user_id, idempotency_key, digest)
            order = Order(user_id=user_id)
            for line in wanted:
                price = uow.stock.take_stock(line.product_id, line.quantity)
                order.lines.append(OrderLine(line.product_id, line.quantity, price))
            uow.orders.add(order)
            assert order.id is not None
            if idempotency_key is not None:
                uow.idempotency.attach(user_id, idempotency_key, order.id)
            events.order_placed(uow, order)
            uow.commit()
            return order_view(order)

    try:
        view = shop.retry.run(attempt)
    except (KeyAlreadyClaimed, SoldOut, RetryableConflict):
        if idempotency_key is not None:
            earlier = _replay(shop, user_id, idempotency_key, digest)
            if earlier is not None:
                return earlier
        raise
    for line in wanted:
        shop.invalidation.product_changed(line.product_id)
    return PlacedOrder(view, replayed=False)


def get_order(shop: Shop, user_id: int, order_id: int) -> OrderView:
    """The caller's order; someone else's is ``NotFound`` too."""
    with shop.uow() as uow:
        order = uow.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise NotFound("order", order_id)
        return order_view(order)


def list_orders(shop: Shop, user_id: int, after: int = 0, limit: int = 20) -> Page[OrderView]:
    check_page(after, limit)
    with shop.uow() as uow:
        found = [order_view(o) for o in uow.orders.for_user(user_id, after, limit + 1)]
    more = len(found) > limit
    found = found[:limit]
    return Page(tuple(found), found[-1].id if more else None)


def cancel_order(shop: Shop, user_id: int, order_id: int) -> OrderView:
    """Cancel the caller's order and return its stock, in one transaction.

    The order row is version-checked, so two racing cancels return the stock once.
    """

    def attempt() -> OrderView:
        with shop.uow() as uow:
            order = uow.orders.get(order_id)
            if order is None or order.user_id != user_id:
                raise NotFound("order", order_id)
            order.cancel()
            for line in sorted(order.lines, key=lambda ln: ln.product_id):
                uow.stock.put_stock(line.product_id, line.quantity)
            events.order_cancelled(uow, order)
            uow.commit()
            return order_view(order)

    view = shop.retry.run(attempt)
    for line in view.lines:
        shop.invalidation.product_changed(line.product_id)
    return view
