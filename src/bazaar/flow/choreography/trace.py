"""A saga's trace: every event of one saga (one key) on the log, in log order."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from bazaar.flow.choreography.events import Event
from bazaar.flow.errors import EventError


async def trace(bootstrap: str, order_id: str, *, topic: str) -> list[Event]:
    """Read ``topic`` from the beginning up to its current end; keep ``order_id``'s events."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None)
    try:
        await consumer.start()
    except Exception as exc:
        raise EventError(f"cannot reach the log at {bootstrap}: {exc}") from exc
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            raise EventError(f"no topic {topic!r} on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[Event] = []
        key = order_id.encode()
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    if record.key == key:
                        found.append(Event.from_bytes(record.value))
                    if record.offset + 1 >= ends[tp]:
                        remaining.discard(tp)
        return found
    finally:
        await consumer.stop()
