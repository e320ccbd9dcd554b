"""Live notifications straight from the log, beside the batch stages: low stock and order
spikes, seconds old at most, where the warehouse is minutes behind.

:class:`Watcher` reads the shop's events from the end of each partition (no group: it never
needs to resume, only to see what happens now) and hands each :class:`Alert` to a callback.
The rules are plain code (:class:`Rules`), tested without a log.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bazaar.pipeline._errors import IngestError
from bazaar.pipeline._events import ORDER_PLACED, SHOP_TOPIC, STOCK_CHANGED


@dataclass(frozen=True)
class Alert:
    kind: str  # "low_stock" | "order_spike"
    message: str
    event_at: float
    raised_at: float
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rules:
    """Low stock: a product's stock falls under ``low_stock`` (once, until it is back over).
    Order spike: more than ``spike_orders`` order lines within ``spike_window_s`` (then quiet
    for a window)."""

    low_stock: int = 10
    spike_orders: int = 500
    spike_window_s: float = 10.0
    _low: set[int] = field(default_factory=set)
    _orders: deque[float] = field(default_factory=deque)
    _quiet_until: float = 0.0

    def feed(self, doc: dict[str, Any], now: float) -> Alert | None:
        kind = doc.get("type")
        raw_at = doc.get("at")
        at = float(raw_at) if isinstance(raw_at, int | float) else now
        if kind == STOCK_CHANGED:
            product, stock = doc.get("product_id"), doc.get("stock")
            if not isinstance(product, int) or not isinstance(stock, int):
                return None
            if stock >= self.low_stock:
                self._low.discard(product)
                return None
            if product in self._low:
                return None
            self._low.add(product)
            return Alert("low_stock", f"product {product}: only {stock} left", float(at), now,
                         {"product_id": product, "stock": stock})
        if kind == ORDER_PLACED:
            self._orders.append(now)
            while self._orders and self._orders[0] < now - self.spike_window_s:
                self._orders.popleft()
            if len(self._orders) > self.spike_orders and now >= self._quiet_until:
                self._quiet_until = now + self.spike_window_s
                return Alert("order_spike", f"{len(self._orders)} order lines in the last "
                             f"{self.spike_window_s:g} s", float(at), now,
                             {"orders": len(self._orders), "window_s": self.spike_window_s})
        return None


class Watcher:
    """A thread reading ``topics`` from their ends, calling ``on_alert`` for each alert."""

    def __init__(self, bootstrap: str, on_alert: Callable[[Alert], None], *,
                 rules: Rules | None = None, topics: Sequence[str] = (SHOP_TOPIC,)) -> None:
        self.bootstrap, self.on_alert = bootstrap, on_alert
        self.rules, self.topics = rules or Rules(), tuple(topics)
        self.ready = threading.Event()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline-alerts", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        from confluent_kafka import OFFSET_END, Consumer, KafkaException, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "unused",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 50})
        try:
            while not self._stop.is_set():
                try:
                    meta = consumer.list_topics(timeout=5)
                except KafkaException as exc:
                    self.error = str(IngestError(f"the log at {self.bootstrap}: {exc}"))
                    time.sleep(1)
                    continue
                parts = [TopicPartition(t, p, OFFSET_END) for t in self.topics
                         if t in meta.topics for p in meta.topics[t].partitions]
                if parts:
                    consumer.assign(parts)
                    break
                time.sleep(0.5)  # the topic does not exist yet
            self.error = None
            self.ready.set()
            while not self._stop.is_set():
                for m in consumer.consume(num_messages=5_000, timeout=0.1):
                    if m.error() is not None:
                        continue
                    try:
                        doc = orjson.loads(m.value() or b"")
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(doc, dict):
                        alert = self.rules.feed(doc, time.time())
                        if alert is not None:
                            self.on_alert(alert)
        finally:
            consumer.close()
