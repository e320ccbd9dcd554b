"""Reading a topic to its end with librdkafka, for the broker's transaction tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(bootstrap: str, partitions: int, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result(30)


def consume_by_partition(bootstrap: str, topics: str | Iterable[str], isolation: str, *,
                         expect: int, idle_s: float = 3.0,
                         limit_s: float = 60.0) -> dict[int, list[bytes]]:
    """Every value on ``topics`` from the beginning, by partition: read until ``expect``
    values arrived and nothing more came for ``idle_s``, or ``limit_s`` passed."""
    consumer = Consumer({"bootstrap.servers": bootstrap,
                         "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": isolation})
    consumer.subscribe([topics] if isinstance(topics, str) else list(topics))
    got: dict[int, list[bytes]] = {}
    count = 0
    deadline = time.monotonic() + limit_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(500, 0.5)
            for m in batch:
                err = m.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    continue
                got.setdefault(m.partition(), []).append(m.value())
                count += 1
            if batch:
                last = time.monotonic()
            elif count >= expect and time.monotonic() - last > idle_s:
                break
    finally:
        consumer.close()
    return got


def consume_all(bootstrap: str, topics: str | Iterable[str], isolation: str, *, expect: int,
                idle_s: float = 3.0, limit_s: float = 60.0) -> list[bytes]:
    """:func:`consume_by_partition`, flattened (in partition order)."""
    got = consume_by_partition(bootstrap, topics, isolation, expect=expect, idle_s=idle_s,
                               limit_s=limit_s)
    return [v for p in sorted(got) for v in got[p]]
