"""Transactional outbox and dedupe table, and the relay that moves the outbox to the log.

A service writes its state change, the events it emits (``emit``) and the id of the event it
consumed (``seen``) in one local transaction. The relay publishes unsent rows in order and
marks them sent; a crash between the two publishes a row twice, which consumers absorb.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.choreography.events import Event
from bazaar.flow.orchestrator.store import Store
from bazaar.storage import Migrations

log = logging.getLogger("bazaar.flow.choreography")
metadata = sa.MetaData()
outbox = sa.Table(
    "outbox", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, index=True),
)
processed = sa.Table(
    "processed_events", metadata,
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)

#: The outbox's migrations: their own version table, so they share any service's database.
MIGRATIONS = Migrations("bazaar.flow.choreography.migrations",
                        version_table="outbox_alembic_version")


def install(store: Store) -> None:
    """Migrate the outbox and dedupe tables in ``store``'s database to head."""
    store.migrate(MIGRATIONS)


def emit(conn: Connection, event: Event, topic: str) -> None:
    """Queue ``event`` for publishing to ``topic`` (keyed by its saga), inside the caller's
    transaction."""
    conn.execute(outbox.insert().values(event_id=event.event_id, topic=topic,
                                        key=event.order_id, payload=event.to_bytes(),
                                        created_at=time.time()))


def seen(conn: Connection, consumer: str, event_id: str) -> bool:
    """Record that ``consumer`` handled ``event_id``; True if it already had (a duplicate)."""
    if conn.execute(sa.select(processed.c.event_id).where(
            processed.c.consumer == consumer, processed.c.event_id == event_id)).first():
        return True
    conn.execute(processed.insert().values(consumer=consumer, event_id=event_id,
                                           at=time.time()))
    return False


def prune(store: Store, retention_s: float, *, now: float | None = None,
          batch: int = 10_000) -> int:
    """Delete the outbox rows relayed more than ``retention_s`` ago (never one not yet sent),
    in transactions of at most ``batch`` rows; returns how many. A consumer that re-reads the
    log still finds them there: the outbox only has to hold what the log has not yet."""
    if retention_s < 0:
        raise ValueError("retention_s must be >= 0")
    cutoff = (time.time() if now is None else now) - retention_s
    removed = 0
    while True:
        with store.begin() as conn:
            seqs = conn.execute(sa.select(outbox.c.seq).where(
                outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff)
                .order_by(outbox.c.seq).limit(batch)).scalars().all()
            if seqs:
                conn.execute(outbox.delete().where(outbox.c.seq.in_(seqs)))
        removed += len(seqs)
        if len(seqs) < batch:
            return removed


class Relay:
    """Publishes a store's outbox with a Kafka producer (any Kafka-protocol broker); with
    ``retention_s``, also deletes the rows sent longer ago than that, every ``prune_every_s``
    (so the outbox does not grow forever)."""

    def __init__(self, store: Store, producer: Any, *, batch: int = 200,
                 idle_s: float = 0.05, retention_s: float | None = None,
                 prune_every_s: float = 60.0) -> None:
        self.store, self.producer = store, producer
        self.batch, self.idle_s = batch, idle_s
        self.retention_s, self.prune_every_s = retention_s, prune_every_s
        self.wake = asyncio.Event()
        self.published = self.pruned = 0
        self._pruned_at = float("-inf")

    def _maybe_prune(self) -> None:
        if self.retention_s is None:
            return
        now = time.monotonic()
        if now - self._pruned_at >= self.prune_every_s:
            self._pruned_at = now
            self.pruned += prune(self.store, self.retention_s)

    async def flush(self) -> int:
        """Publish what is pending now; returns how many rows were sent."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(outbox.c.seq, outbox.c.topic, outbox.c.key,
                                          outbox.c.payload)
                                .where(outbox.c.sent_at.is_(None)).order_by(outbox.c.seq)
                                .limit(self.batch)).all()
        if not rows:
            return 0
        futures = [await self.producer.send(r.topic, value=bytes(r.payload),
                                            key=r.key.encode()) for r in rows]
        await asyncio.gather(*futures)
        with self.store.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.seq.in_([r.seq for r in rows]))
                         .values(sent_at=time.time()))
        self.published += len(rows)
        return len(rows)

    async def run(self) -> None:
        """Relay forever; on a broker error, back off and try the same rows again."""
        delay = 0.1
        while True:
            try:
                sent = await self.flush()
                if sent < self.batch:  # caught up: time for housekeeping
                    self._maybe_prune()
                delay = 0.1
            except Exception as exc:  # broker down: the rows stay unsent, retried below
                log.warning("relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if not sent:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.idle_s)
