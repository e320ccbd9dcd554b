"""Run choreography participants: per role, an idempotent consumer group on the saga's topic
and the relay of the role's outbox, over a standard Kafka client (aiokafka)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bazaar.flow.choreography.events import Event
from bazaar.flow.choreography.outbox import Relay
from bazaar.flow.orchestrator.store import Store

log = logging.getLogger("bazaar.flow.choreography")
Reaction = Callable[[Event], Awaitable[None]]


class Participant(Protocol):
    """What a choreographed service offers: a reaction per role, and the database holding
    each role's outbox and dedupe table."""

    @property
    def reactions(self) -> Mapping[str, Reaction]: ...

    def store(self, role: str) -> Store: ...


async def _start(client: AIOKafkaProducer | AIOKafkaConsumer, what: str) -> None:
    delay = 0.1
    while True:
        try:
            await client.start()
            return
        except Exception as exc:  # broker not up yet
            log.warning("%s: %s; retrying", what, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def consume(bootstrap: str, topic: str, group: str, react: Reaction, relay: Relay,
                  stop: asyncio.Event, fetch_wait_ms: int = 10) -> None:
    """Handle each record (retrying until it succeeds), then commit its offset. A crash
    before the commit redelivers: the reaction's dedupe table absorbs it."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                retry_backoff_ms=100, metadata_max_age_ms=5000,
                                fetch_max_wait_ms=fetch_wait_ms)
    await _start(consumer, f"consumer {group}")
    try:
        while not stop.is_set():
            try:
                batches = await consumer.getmany(timeout_ms=100, max_records=200)
            except Exception as exc:  # broker gone: aiokafka reconnects on the next call
                log.warning("consumer %s: %s", group, exc)
                await asyncio.sleep(0.2)
                continue
            for records in batches.values():
                for record in records:
                    event = Event.from_bytes(record.value)
                    delay = 0.05
                    while True:
                        try:
                            await react(event)
                            break
                        except Exception as exc:  # e.g. a locked database: try again
                            log.warning("%s on %s %s: %s", group, event.type, event.order_id,
                                        exc)
                            await asyncio.sleep(delay)
                            delay = min(delay * 2, 2.0)
                    relay.wake.set()
            if batches:
                with contextlib.suppress(Exception):  # uncommitted → redelivered → deduped
                    await consumer.commit()
    finally:
        with contextlib.suppress(Exception):  # leaving the group must not hang shutdown
            await asyncio.wait_for(consumer.stop(), 5.0)


async def run_roles(bootstrap: str, participant: Participant, roles: Iterable[str], *,
                    topic: str, group_prefix: str, stop: asyncio.Event | None = None) -> None:
    """Serve ``roles`` until ``stop`` is set: a consumer group and an outbox relay each."""
    stop = stop or asyncio.Event()
    roles = list(roles)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1,
                                retry_backoff_ms=100, request_timeout_ms=5000)
    await _start(producer, "producer")
    jobs: list[asyncio.Task[None]] = []
    try:
        relays = {role: Relay(participant.store(role), producer) for role in roles}
        for role in roles:
            jobs.append(asyncio.create_task(relays[role].run()))
            jobs.append(asyncio.create_task(consume(bootstrap, topic, f"{group_prefix}-{role}",
                                                    participant.reactions[role],
                                                    relays[role], stop)))
        await stop.wait()
    finally:
        consumers = jobs[1::2]
        if consumers:  # they notice ``stop`` within a poll; give them that long
            await asyncio.wait(consumers, timeout=6.0)
        for job in jobs:
            job.cancel()
        if jobs:
            await asyncio.wait(jobs, timeout=6.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 5.0)
