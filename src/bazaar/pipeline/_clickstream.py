"""``POST /events``: the clickstream endpoint. A browser or app sends a batch of events as a
JSON array; they are validated whole (one bad event refuses the batch, nothing is produced),
then produced to the log and flushed before the answer, so ``202`` means they are on the log.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bazaar.pipeline._errors import IngestError, PipelineError
from bazaar.pipeline._events import KNOWN_TYPES, SHOP_TOPIC

MAX_EVENTS = 1_000
_STR = ("customer_id", "session_id", "order_id")
_INT = ("product_id", "quantity", "price_cents", "stock")


class InvalidEvents(PipelineError):
    """A clickstream batch that is not a list of valid events."""


def validate(body: bytes, now: float) -> list[dict[str, Any]]:
    """The batch's events, with ids and times filled in; :class:`InvalidEvents` if any is bad."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvents(f"malformed JSON: {exc}") from exc
    if not isinstance(doc, list) or not doc:
        raise InvalidEvents("the body must be a non-empty JSON array of events")
    if len(doc) > MAX_EVENTS:
        raise InvalidEvents(f"at most {MAX_EVENTS} events per request, got {len(doc)}")
    out = []
    for i, event in enumerate(doc):
        if not isinstance(event, dict):
            raise InvalidEvents(f"events[{i}]: not an object")
        kind = event.get("type")
        if kind not in KNOWN_TYPES:
            raise InvalidEvents(f"events[{i}].type: one of {', '.join(KNOWN_TYPES)}")
        clean: dict[str, Any] = {"type": kind}
        eid = event.get("event_id", uuid.uuid4().hex)
        if not isinstance(eid, str) or not 0 < len(eid) <= 100:
            raise InvalidEvents(f"events[{i}].event_id: a string of 1 to 100 characters")
        clean["event_id"] = eid
        at = event.get("at", now)
        if isinstance(at, bool) or not isinstance(at, int | float) or not 0 <= at < 1e11:
            raise InvalidEvents(f"events[{i}].at: seconds since the epoch")
        clean["at"] = at
        for name in _STR:
            if name in event:
                if not isinstance(event[name], str) or len(event[name]) > 100:
                    raise InvalidEvents(f"events[{i}].{name}: a string of at most 100")
                clean[name] = event[name]
        for name in _INT:
            if name in event:
                v = event[name]
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**53:
                    raise InvalidEvents(f"events[{i}].{name}: an integer from 0 to 2^53")
                clean[name] = v
        out.append(clean)
    return out


class Clickstream:
    """Produces validated batches to ``topic`` with one librdkafka producer."""

    def __init__(self, bootstrap: str, topic: str = SHOP_TOPIC) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2,
                                   "enable.idempotence": True, "message.timeout.ms": 10_000})

    def _send(self, events: list[dict[str, Any]]) -> None:
        errors: list[str] = []

        def report(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for e in events:
            key = (e.get("customer_id") or e.get("session_id") or e["event_id"]).encode()
            self._producer.produce(self.topic, orjson.dumps(e), key, on_delivery=report)
        if self._producer.flush(15) or errors:
            raise IngestError(f"the log did not take the batch: {errors[:1] or 'timeout'}")

    async def post(self, request: Request) -> Response:
        events = validate(await request.body(), time.time())
        await asyncio.to_thread(self._send, events)
        return JSONResponse({"accepted": len(events)}, status_code=202)
