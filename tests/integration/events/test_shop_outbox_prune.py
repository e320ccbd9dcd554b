"""The shop's outbox does not grow forever: rows the relay published to a real log are deleted
once older than the retention, a row not yet sent never is, and every event is on the log."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from confluent_kafka import Consumer, TopicPartition
from tests.support.shop import sqlite_shop

from bazaar.broker import run_subprocess
from bazaar.flow.choreography import Relay, prune
from bazaar.flow.orchestrator import Store
from bazaar.processes import eventually
from bazaar.shop.adapters import schema
from bazaar.shop.services import catalog, users


def _rows(store: Store) -> list[tuple[int, float | None]]:
    with store.read() as conn:
        return [(r.seq, r.sent_at) for r in conn.execute(
            sa.select(schema.outbox.c.seq, schema.outbox.c.sent_at)
            .order_by(schema.outbox.c.seq))]


def _on_log(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "prune-check"})
    parts = consumer.list_topics("shop.events", timeout=10).topics["shop.events"].partitions
    total = sum(consumer.get_watermark_offsets(TopicPartition("shop.events", p), 10)[1]
                for p in parts)
    consumer.close()
    return total


async def _relay_until(relay: Relay, done: object) -> None:
    task = asyncio.create_task(relay.run())
    try:
        deadline = time.monotonic() + 30
        while not done() and time.monotonic() < deadline:  # type: ignore[operator]
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_relayed_rows_past_the_retention_are_pruned_and_unsent_ones_kept(
        tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    shop = sqlite_shop(db)
    users.register(shop, "ann", "Ann", "correct horse battery")
    catalog.create_product(shop, "SKU-1", "One", 250, 10)
    store = Store(f"sqlite:///{db}")
    first = _rows(store)
    assert len(first) == 2 and all(sent is None for _, sent in first)
    # Not sent: never pruned, however old and whatever the retention.
    assert prune(store, 0, now=time.time() + 10**9) == 0
    assert _rows(store) == first
    with pytest.raises(ValueError, match="retention"):
        prune(store, -1)

    with run_subprocess(tmp_path / "broker") as broker:
        async def scenario() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            await producer.start()
            try:
                # Sent, but younger than an hour's retention: kept.
                keep = Relay(store, producer, retention_s=3600, prune_every_s=0)
                await _relay_until(keep, lambda: keep.published == 2)
                assert keep.published == 2 and keep.pruned == 0
                assert [seq for seq, sent in _rows(store) if sent] == [s for s, _ in first]
                # An hour and a half later they are past it.
                assert prune(store, 3600, now=time.time() + 5400) == 2
                assert _rows(store) == []
                # The relay prunes by itself: zero retention, new events.
                catalog.create_product(shop, "SKU-2", "Two", 999, 3)
                catalog.restock(shop, 1, 5)
                assert len(_rows(store)) == 2
                eager = Relay(store, producer, retention_s=0, prune_every_s=0)
                await _relay_until(eager, lambda: eager.pruned == 2)
                assert (eager.published, eager.pruned) == (2, 2)
                assert _rows(store) == []
            finally:
                await producer.stop()

        asyncio.run(scenario())
        eventually(lambda: _on_log(broker.bootstrap) == 4, timeout=10)
    store.close()
