"""Events: small frozen records, JSON on the wire, keyed by the saga they belong to."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class Event:
    """One fact about one saga (``order_id`` is its key on the log). ``event_id`` is what
    consumers deduplicate on; ``cause`` is the event id it reacts to (the trace's thread)."""

    type: str
    order_id: str
    data: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    cause: str | None = None
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: float = field(default_factory=time.time)

    def follow(self, type: str, source: str, **data: Any) -> Event:
        """The event a service emits in reaction to this one (same order, same saga data)."""
        return Event(type=type, order_id=self.order_id, data={**self.data, **data},
                     source=source, cause=self.event_id)

    def to_bytes(self) -> bytes:
        return orjson.dumps({"event_id": self.event_id, "type": self.type,
                             "order_id": self.order_id, "data": self.data,
                             "source": self.source, "cause": self.cause, "at": self.at})

    @classmethod
    def from_bytes(cls, raw: bytes) -> Event:
        d = orjson.loads(raw)
        return cls(type=d["type"], order_id=d["order_id"], data=d.get("data") or {},
                   source=d.get("source", ""), cause=d.get("cause"), event_id=d["event_id"],
                   at=d.get("at", 0.0))
