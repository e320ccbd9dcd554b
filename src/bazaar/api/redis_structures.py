"""The Redis-structures demo: endpoints on the data structures of :mod:`bazaar.cache`
(in-process twins on ``memory://``): product view/click counters (hash + HINCRBY), a
deduplicated commenter list sorted by time (sorted set), daily logins (one bitmap per day:
BITCOUNT, BITOP AND), and the read cache's counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.params import path_id, query
from bazaar.api.principal import principal, user_id
from bazaar.api.responses import json
from bazaar.api.routes import READ, WRITE, Operation
from bazaar.cache import Structures
from bazaar.shop.domain import ADMIN_SCOPE
from bazaar.shop.services import Shop

MAX_DAYS = 31


class CommentersQuery(msgspec.Struct):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20


class DaysQuery(msgspec.Struct):
    days: Annotated[list[date], msgspec.Meta(
        min_length=1, max_length=MAX_DAYS, examples=[["2026-11-27"]],
        description=f"1-{MAX_DAYS} comma-separated dates, YYYY-MM-DD.")]


class ProductCounters(msgspec.Struct):
    product_id: int
    views: int = 0
    clicks: int = 0


class Commenter(msgspec.Struct):
    user_id: int
    at: float


class CommenterAdded(msgspec.Struct):
    product_id: int
    user_id: int
    first_comment: bool


class LoginRecorded(msgspec.Struct):
    user_id: int
    day: date
    first_today: bool


class DailyActives(msgspec.Struct):
    days: list[date]
    active_on_every_day: int


class RedisStructuresRoutes:
    """Handlers over :class:`Structures`; product ids are checked through the (cached,
    Bloom-guarded) catalogue reader, so counters exist only for real products."""

    def __init__(self, shop: Shop, structures: Structures,
                 cache_stats: Callable[[], dict[str, Any]] | None = None) -> None:
        self._shop = shop
        self._s = structures
        self._cache_stats = cache_stats

    async def _product(self, request: Request) -> int:
        product_id = path_id(request, "product_id")
        await self._shop.catalog_reader.product(product_id)  # 404 if there is no such product
        return product_id

    async def _counters(self, product_id: int) -> ProductCounters:
        counts = await self._s.counters.counts(product_id)
        return ProductCounters(product_id, counts.get("views", 0), counts.get("clicks", 0))

    async def view(self, request: Request) -> Response:
        principal(request, READ)
        product_id = await self._product(request)
        await self._s.counters.incr(product_id, "views")
        return json(await self._counters(product_id))

    async def click(self, request: Request) -> Response:
        principal(request, READ)
        product_id = await self._product(request)
        await self._s.counters.incr(product_id, "clicks")
        return json(await self._counters(product_id))

    async def counters(self, request: Request) -> Response:
        principal(request, READ)
        return json(await self._counters(await self._product(request)))

    async def add_commenter(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        product_id = await self._product(request)
        first = await self._s.commenters.add(product_id, uid, time.time())
        return json(CommenterAdded(product_id, uid, first))

    async def commenters(self, request: Request) -> Response:
        principal(request, READ)
        product_id = await self._product(request)
        limit = query(request, CommentersQuery).limit
        rows = await self._s.commenters.recent(product_id, limit)
        return json([Commenter(u, at) for u, at in rows])

    async def record_login(self, request: Request) -> Response:
        uid = user_id(request, READ)
        today = datetime.now(UTC).date()
        first = await self._s.logins.record(uid, today)
        return json(LoginRecorded(uid, today, first))

    async def daily_actives(self, request: Request) -> Response:
        principal(request, ADMIN_SCOPE)
        days = query(request, DaysQuery).days
        count = (await self._s.logins.daily_actives(days[0]) if len(days) == 1
                 else await self._s.logins.active_on_all(days))
        return json(DailyActives(days, count))

    async def cache_stats(self, request: Request) -> Response:
        principal(request, ADMIN_SCOPE)
        stats = self._cache_stats() if self._cache_stats else {"backend": "none"}
        return json({**stats, "structures": self._s.backend})

    def operations(self) -> list[Operation]:
        o = Operation
        pid = "/products/{product_id:int}"
        return [
            o("POST", f"{pid}/views", self.view, "Count a product view (HINCRBY)",
              response=ProductCounters, errors=(404,)),
            o("POST", f"{pid}/clicks", self.click, "Count a product click (HINCRBY)",
              response=ProductCounters, errors=(404,)),
            o("GET", f"{pid}/counters", self.counters, "A product's view and click counts",
              response=ProductCounters, errors=(404,)),
            o("POST", f"{pid}/commenters", self.add_commenter,
              "Record the caller as a commenter (sorted set: deduplicated, by time)",
              response=CommenterAdded, scope=WRITE, errors=(404,)),
            o("GET", f"{pid}/commenters", self.commenters, "Latest commenters, newest first",
              response=list[Commenter], errors=(404, 422), query=CommentersQuery),
            o("POST", "/users/me/logins", self.record_login,
              "Record today's login for the caller (SETBIT on the day's bitmap)",
              response=LoginRecorded),
            o("GET", "/stats/daily-actives", self.daily_actives,
              "Users active on every given day (BITCOUNT; BITOP AND for several days, admin)",
              response=DailyActives, scope=ADMIN_SCOPE, errors=(422,), query=DaysQuery),
            o("GET", "/cache/stats", self.cache_stats,
              "Read-cache counters: hits, misses, null hits, bloom rejections, DB queries",
              response=dict[str, Any], scope=ADMIN_SCOPE),
        ]
