"""The shop's outbox on SQL, and the product-view buffer that feeds it off the request path.

:class:`SqlOutbox` is the unit of work's ``events`` port: it inserts into ``outbox`` in the
unit of work's own session, so the events commit or roll back with the change. The relay
(``bazaar.flow.choreography.Relay`` over the same table) publishes them later.
:class:`BufferedViews` takes views in memory (a bounded deque: no I/O on the request path) and
:meth:`~BufferedViews.drain` writes them as one transaction; if the buffer overflows because
the database is down for long, the oldest views are dropped and counted.
"""

from __future__ import annotations

import collections
import threading
import time

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bazaar.shop.adapters import schema
from bazaar.shop.services import UnitOfWorkFactory
from bazaar.shop.services.events import SCHEMA_VERSION, TOPIC, View, record_views


class SqlOutbox:
    """``uow.events``: outbox rows in the unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, type: str, event_id: str, key: str, *, at: float | None = None,
            **fields: object) -> None:
        # The change first (its version-checked UPDATEs): a racing transaction then fails
        # on the row it lost, as a retryable conflict, not on this event's unique id.
        self._s.flush()
        when = time.time() if at is None else at
        payload = orjson.dumps({"v": SCHEMA_VERSION, "event_id": event_id, "type": type,
                                "at": round(when, 3), **fields})
        self._s.execute(insert(schema.outbox).values(
            event_id=event_id, topic=TOPIC, key=key, payload=payload, created_at=time.time()))

    def stock_level(self, product_id: int) -> int | None:
        self._s.flush()  # the ORM strategies' pending stock changes first
        p = schema.products
        level = self._s.scalar(select(p.c.stock).where(p.c.id == product_id))
        return None if level is None else int(level)


class BufferedViews:
    """``ViewRecorder``: views in a bounded in-memory buffer, drained in batches."""

    def __init__(self, uow: UnitOfWorkFactory, capacity: int = 100_000) -> None:
        self._uow = uow
        self._views: collections.deque[View] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.recorded = self.dropped = 0

    def viewed(self, product_id: int, user_id: int | None) -> None:
        with self._lock:
            if len(self._views) == self._views.maxlen:
                self.dropped += 1
            self._views.append(View(product_id, user_id, time.time()))
            self.recorded += 1

    def drain(self, batch: int = 5_000) -> int:
        """Write up to ``batch`` views to the outbox in one transaction; how many. On a
        database error they go back to the front of the buffer and the error is raised."""
        with self._lock:
            taken = [self._views.popleft() for _ in range(min(batch, len(self._views)))]
        if not taken:
            return 0
        try:
            with self._uow() as uow:
                record_views(uow, taken)
                uow.commit()
        except Exception:
            with self._lock:
                self._views.extendleft(reversed(taken))
            raise
        return len(taken)
