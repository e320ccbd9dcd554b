"""Event source mappings: a topic on a Kafka-compatible log drives a function, in batches.

Each mapping runs one poller: a standard Kafka consumer (aiokafka) in its own consumer group.
Records come in batches of up to ``batch_size`` per partition; each batch is one synchronous
invoke. Partitions run side by side, but within a partition the next batch waits for the last
one: order is kept. An offset is committed only after its batch succeeded (or, past
``max_retries`` function errors, was put in the dead-letter store), so a crash re-delivers the
batch: at least once, as Lambda's Kafka event sources are.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from bazaar.functions._errors import FunctionsError, InvalidRequest, ResourceNotFound
from bazaar.functions._model import LATEST, InvocationResult, check_name

_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_BOOTSTRAP = re.compile(r"^[^\s:,]+:\d{1,5}(,[^\s:,]+:\d{1,5})*$")
EVENT_FORMATS = ("bazaar", "lambda")
Invoke = Callable[[str, str, bytes, str], Awaitable[InvocationResult]]
DeadLetter = Callable[["EventSourceMapping", bytes, str, dict[str, Any] | None, int],
                      Awaitable[None]]


@dataclass(frozen=True)
class EventSourceMapping:
    """A topic -> function mapping. Validated on construction (InvalidRequest)."""

    function: str
    topic: str
    bootstrap: str
    qualifier: str = LATEST
    batch_size: int = 100
    starting_position: str = "latest"
    max_retries: int = 2
    uuid: str = ""
    #: The event's shape: Bazaar's (``bazaar``) or Lambda's self-managed Kafka (``lambda``).
    event_format: str = "bazaar"
    #: When it was made (epoch seconds), for Lambda's ``LastModified``.
    created: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.function)
        if not _TOPIC.match(self.topic):
            raise InvalidRequest(f"invalid topic {self.topic!r}")
        if not _BOOTSTRAP.match(self.bootstrap):
            raise InvalidRequest(f"bootstrap must be host:port[,host:port…], got "
                                 f"{self.bootstrap!r}")
        if not 1 <= self.batch_size <= 10_000:
            raise InvalidRequest(f"batch_size must be in 1..10000, got {self.batch_size}")
        if self.starting_position not in ("latest", "earliest"):
            raise InvalidRequest("starting_position must be 'latest' or 'earliest'")
        if not 0 <= self.max_retries <= 100:
            raise InvalidRequest(f"max_retries must be in 0..100, got {self.max_retries}")
        if self.event_format not in EVENT_FORMATS:
            raise InvalidRequest(f"event_format must be one of {EVENT_FORMATS}")
        if not self.uuid:
            object.__setattr__(self, "uuid", str(uuid.uuid4()))
        if not self.created:
            object.__setattr__(self, "created", time.time())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventSourceMapping:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidRequest(f"unknown setting(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidRequest(f"bad event source mapping: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_event(topic: str, partition: int, records: list[Any]) -> bytes:
    """The event a handler gets: one partition's records, keys and values in base64."""
    return json.dumps({
        "eventSource": "bazaar:kafka", "topic": topic, "partition": partition,
        "records": [{
            "topic": topic, "partition": partition, "offset": r.offset,
            "timestamp": r.timestamp,
            "key": None if r.key is None else base64.b64encode(r.key).decode(),
            "value": None if r.value is None else base64.b64encode(r.value).decode(),
        } for r in records]}).encode()


def lambda_batch_event(bootstrap: str, topic: str, partition: int, records: list[Any]
                       ) -> bytes:
    """The same batch in Lambda's self-managed Kafka event shape: ``records`` keyed by
    ``topic-partition``, keys and values in base64 (left out when absent), headers as lists of
    byte values, ``timestampType`` by name."""
    def record(r: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            "topic": topic, "partition": partition, "offset": r.offset,
            "timestamp": r.timestamp,
            "timestampType": "LOG_APPEND_TIME" if r.timestamp_type == 1 else "CREATE_TIME"}
        if r.key is not None:
            out["key"] = base64.b64encode(r.key).decode()
        if r.value is not None:
            out["value"] = base64.b64encode(r.value).decode()
        out["headers"] = [{k: list(v or b"")} for k, v in (r.headers or ())]
        return out

    return json.dumps({"eventSource": "SelfManagedKafka", "bootstrapServers": bootstrap,
                       "records": {f"{topic}-{partition}": [record(r) for r in records]}}
                      ).encode()


class EventSourcePoller:
    """Consumes one mapping's topic and invokes its function, batch by batch."""

    def __init__(self, mapping: EventSourceMapping, invoke: Invoke, dead_letter: DeadLetter,
                 *, backoff_s: float = 1.0, throttle_delay_s: float = 0.2) -> None:
        self.mapping = mapping
        self._invoke = invoke
        self._dead_letter = dead_letter
        self._backoff_s = backoff_s
        self._throttle_delay_s = throttle_delay_s
        self.records = 0
        self.batches = 0
        self.failed_batches = 0
        self.last_error = ""

    def stats(self) -> dict[str, Any]:
        return {"records": self.records, "batches": self.batches,
                "failedBatches": self.failed_batches, "lastError": self.last_error}

    async def run(self) -> None:
        """Poll until cancelled; reconnect after broker trouble."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker down or unreachable: try again shortly
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        m = self.mapping
        consumer = AIOKafkaConsumer(
            m.topic, bootstrap_servers=m.bootstrap, group_id=f"bazaar-functions-{m.uuid}",
            enable_auto_commit=False, auto_offset_reset=m.starting_position,
            max_poll_records=m.batch_size)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=m.batch_size)
                await asyncio.gather(*(self._partition(consumer, tp, records)
                                       for tp, records in batches.items() if records))
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _partition(self, consumer: Any, tp: Any, records: list[Any]) -> None:
        m = self.mapping
        payload = (lambda_batch_event(m.bootstrap, tp.topic, tp.partition, records)
                   if m.event_format == "lambda" else
                   batch_event(tp.topic, tp.partition, records))
        attempts = 0
        while True:
            try:
                result = await self._invoke(m.function, m.qualifier, payload,
                                            str(uuid.uuid4()))
            except ResourceNotFound as exc:
                await self._fail(payload, "FunctionNotFound",
                                 {"errorType": exc.code, "errorMessage": str(exc)}, attempts)
                break
            except FunctionsError as exc:  # throttled, no capacity, host lost: try again
                self.last_error = f"{exc.code}: {exc}"
                await asyncio.sleep(self._throttle_delay_s)
                continue
            if result.error is None:
                break
            attempts += 1
            self.last_error = f"{result.error.type}: {result.error.message}"
            if attempts > m.max_retries:
                await self._fail(payload, "RetriesExhausted", result.error.to_dict(), attempts)
                break
            await asyncio.sleep(self._backoff_s * 2 ** (attempts - 1))
        await consumer.commit({tp: records[-1].offset + 1})
        self.records += len(records)
        self.batches += 1

    async def _fail(self, payload: bytes, reason: str, error: dict[str, Any] | None,
                    attempts: int) -> None:
        self.failed_batches += 1
        await self._dead_letter(self.mapping, payload, reason, error, attempts)
