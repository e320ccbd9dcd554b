"""EVENT tasks on a Kafka-protocol log (ours or Kafka itself), through aiokafka.

``action: publish`` tasks are run by the orchestrator's system worker: the payload (plus the
task's idempotency key) is produced to ``topic`` with ``key``. ``action: wait`` tasks stay in
progress until a record arrives on ``topic`` whose JSON value contains every field of
``match``; the record completes the task (``{"event": value, "topic", "partition",
"offset"}``). Records that arrive before the wait task exists do not count (as in
Conductor); a duplicate record finds the task already done and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bazaar.flow.errors import EventError, FlowError

if TYPE_CHECKING:
    from aiokafka import AIOKafkaProducer

    from bazaar.flow.orchestrator.engine import Orchestrator
    from bazaar.flow.orchestrator.service import Service

log = logging.getLogger("bazaar.flow.events")


def waiting_for(engine: Orchestrator, topic: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(execution id, ref, match) of every EVENT task waiting on ``topic``."""
    return [(execution_id, ref, dict(spec.get("match") or {}))
            for execution_id, ref, spec in engine.waiting_events()
            if spec.get("topic") == topic]


def matches(value: Any, match: dict[str, Any]) -> bool:
    return isinstance(value, dict) and all(value.get(k) == v for k, v in match.items())


class KafkaEvents:
    """Publishes EVENT tasks and completes EVENT waits from ``topics``."""

    def __init__(self, bootstrap: str, topics: Sequence[str] = (),
                 group: str = "bazaar-flow-events") -> None:
        self.bootstrap, self.topics, self.group = bootstrap, tuple(topics), group
        self._producer: AIOKafkaProducer | None = None
        self.completed = 0

    async def publish(self, topic: str, key: str | None, payload: dict[str, Any]
                      ) -> dict[str, Any]:
        from aiokafka import AIOKafkaProducer

        try:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                            request_timeout_ms=5000)
                await producer.start()
                self._producer = producer
            meta = await self._producer.send_and_wait(
                topic, orjson.dumps(payload), key=None if key is None else key.encode())
        except Exception as exc:  # aiokafka's errors: the task is retried
            raise EventError(f"publish to {topic} on {self.bootstrap}: {exc}") from exc
        return {"topic": topic, "partition": meta.partition, "offset": meta.offset}

    async def listen(self, service: Service) -> None:
        """Consume ``topics`` and complete matching waits, until cancelled."""
        from aiokafka import AIOKafkaConsumer

        if not self.topics:
            return
        consumer = AIOKafkaConsumer(*self.topics, bootstrap_servers=self.bootstrap,
                                    group_id=self.group, auto_offset_reset="latest",
                                    enable_auto_commit=True, fetch_max_wait_ms=50)
        while True:
            try:
                await consumer.start()
                break
            except Exception as exc:  # the log is not up yet
                log.warning("event listener: %s; retrying", exc)
                await asyncio.sleep(1.0)
        try:
            async for record in consumer:
                try:
                    value = orjson.loads(record.value)
                except orjson.JSONDecodeError:
                    continue
                await self._deliver(service, record.topic, value, record)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5.0)

    async def _deliver(self, service: Service, topic: str, value: Any, record: Any) -> None:
        waiting = await service.call(waiting_for, service.engine, topic)
        for execution_id, ref, match in waiting:
            if not matches(value, match):
                continue
            try:
                await service.call(service.engine.signal, execution_id, ref, {
                    "event": value, "topic": topic, "partition": record.partition,
                    "offset": record.offset})
                self.completed += 1
            except FlowError as exc:  # finished meanwhile: nothing to do
                log.debug("event for %s/%s: %s", execution_id, ref, exc)

    async def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 5.0)
