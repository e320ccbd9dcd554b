"""Relay-style connections over the services' keyset pages."""

from __future__ import annotations

from typing import cast

from bazaar.api.graph import types as t
from bazaar.shop.services import OrderView, Page, ProductView
from bazaar.shop.services.catalog import MAX_PAGE

#: The largest page (``first``) a connection serves: the services' own bound.
MAX_FIRST = MAX_PAGE


def _info(items: tuple[ProductView, ...] | tuple[OrderView, ...], kind: str,
          next_after: int | None) -> t.PageInfo:
    end = t.cursor(kind, items[-1].id) if items else None
    return t.PageInfo(has_next_page=next_after is not None, end_cursor=end)


def products(page: Page[ProductView]) -> t.ProductConnection:
    edges = [t.ProductEdge(cursor=t.cursor("product", p.id), node=cast(t.Product, p))
             for p in page.items]
    return t.ProductConnection(edges=edges, page_info=_info(page.items, "product",
                                                            page.next_after))


def orders(page: Page[OrderView]) -> t.OrderConnection:
    edges = [t.OrderEdge(cursor=t.cursor("order", o.id), node=cast(t.Order, o))
             for o in page.items]
    return t.OrderConnection(edges=edges, page_info=_info(page.items, "order",
                                                          page.next_after))
