"""What the broker counts: bytes in and out, requests by API, produce and fetch latency,
and (computed on scrape) lag per consumer group. Exposed in Prometheus' text format.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Latency:
    """A histogram kept as plain counts (cheap on the hot path)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        i = 0
        while i < len(_BUCKETS) and seconds > _BUCKETS[i]:
            i += 1
        self.counts[i] += 1
        self.total += seconds
        self.n += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else str(bound), running))
        return out


@dataclass
class Metrics:
    """Counters the connection shell and handlers bump."""

    bytes_in: int = 0
    bytes_out: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    produce_latency: Latency = field(default_factory=Latency)
    fetch_latency: Latency = field(default_factory=Latency)
    connections: int = 0
    refused_connections: int = 0
    write_timeouts: int = 0
    auth_successes: int = 0
    auth_failures: int = 0
    cleaner_passes: int = 0
    cleaner_bytes_read: int = 0
    cleaner_bytes_written: int = 0
    sync_rounds: Callable[[], tuple[int, int]] = lambda: (0, 0)  # (rounds, requests)


class BrokerCollector(Collector):
    """Prometheus collector over :class:`Metrics`, plus lag computed when scraped."""

    def __init__(self, metrics: Metrics,
                 lag: Callable[[], Iterator[tuple[str, str, int, int]]]) -> None:
        self.metrics = metrics
        self.lag = lag

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily |
                                  HistogramMetricFamily]:
        m = self.metrics
        yield CounterMetricFamily("bazaar_broker_bytes_in", "Bytes received", value=m.bytes_in)
        yield CounterMetricFamily("bazaar_broker_bytes_out", "Bytes sent", value=m.bytes_out)
        requests = CounterMetricFamily("bazaar_broker_requests", "Requests by API",
                                       labels=["api"])
        for api, n in sorted(m.requests.items()):
            requests.add_metric([api], n)
        yield requests
        yield GaugeMetricFamily("bazaar_broker_connections", "Open connections",
                                value=m.connections)
        yield CounterMetricFamily("bazaar_broker_refused_connections",
                                  "Connections refused over max_connections",
                                  value=m.refused_connections)
        yield CounterMetricFamily("bazaar_broker_auth_failures",
                                  "Failed SASL authentications", value=m.auth_failures)
        yield CounterMetricFamily("bazaar_broker_auth_successes",
                                  "Successful SASL authentications", value=m.auth_successes)
        yield CounterMetricFamily("bazaar_broker_write_timeouts",
                                  "Connections closed: a response unread past write_timeout_ms",
                                  value=m.write_timeouts)
        yield CounterMetricFamily("bazaar_broker_cleaner_passes",
                                  "Log cleaner passes (compacted partitions)",
                                  value=m.cleaner_passes)
        yield CounterMetricFamily("bazaar_broker_cleaner_bytes_read",
                                  "Segment bytes the log cleaner read", value=m.cleaner_bytes_read)
        yield CounterMetricFamily("bazaar_broker_cleaner_bytes_written",
                                  "Segment bytes the log cleaner wrote (rewritten segments)",
                                  value=m.cleaner_bytes_written)
        rounds, durable = m.sync_rounds()
        yield CounterMetricFamily("bazaar_broker_group_commit_rounds",
                                  "Group commit rounds (one fdatasync per dirty file each)",
                                  value=rounds)
        yield CounterMetricFamily("bazaar_broker_group_commit_requests",
                                  "Produce requests acknowledged after a group commit",
                                  value=durable)
        for name, lat in (("produce", m.produce_latency), ("fetch", m.fetch_latency)):
            yield HistogramMetricFamily(f"bazaar_broker_{name}_latency_seconds",
                                        f"{name} request latency", buckets=lat.buckets(),
                                        sum_value=lat.total)
        lag = GaugeMetricFamily("bazaar_broker_group_lag", "End offset minus committed offset",
                                labels=["group", "topic", "partition"])
        for group, topic, partition, value in self.lag():
            lag.add_metric([group, topic, str(partition)], value)
        yield lag
