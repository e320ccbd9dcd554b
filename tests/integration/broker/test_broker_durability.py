"""acks=all means on disk: a simulated power loss keeps every record acknowledged with acks=all.

The harness wraps ``os.fsync``/``os.fdatasync`` (a ledger of each file's length as of its last
completed sync), runs the broker embedded in a thread, lets several real clients produce
concurrently, and at one instant on the broker's event loop ("the power cut") records which
files exist and how much of each was synced. The disk image after the cut is every file cut
back to that length; the log recovered from it must hold every record whose acknowledgement
the client saw before the cut. acks=1 through the same harness loses records, so the
harness can tell the difference. An idempotent producer also survives the broker coming
back from that image on the same port (it used to die with OUT_OF_ORDER_SEQUENCE_NUMBER).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bazaar.broker import Broker, BrokerConfig, LogConfig
from bazaar.broker.log import Log
from bazaar.broker.log import batch as rb
from bazaar.processes import eventually

T = TypeVar("T")


class SyncLedger:
    """For every file synced: the length its last completed fsync/fdatasync covered."""

    def __init__(self) -> None:
        self.synced: dict[str, int] = {}
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            size = os.fstat(fd).st_size  # what exists before the sync starts is covered
            path = os.readlink(f"/proc/self/fd/{fd}")
            real(fd)
            with self._lock:
                self.calls += 1
                self.synced[path] = max(self.synced.get(path, 0), size)
        return sync

    def cut(self, root: Path) -> dict[Path, int]:
        """Every file under ``root`` now, with the length that would survive a power loss."""
        with self._lock:
            return {p: self.synced.get(str(p), 0) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> SyncLedger:
    ledger = SyncLedger()
    monkeypatch.setattr(os, "fsync", ledger.wrap(os.fsync))
    monkeypatch.setattr(os, "fdatasync", ledger.wrap(os.fdatasync))
    return ledger


class BrokerThread:
    """An embedded broker on its own event loop thread, so blocking clients can use it."""

    def __init__(self, config: BrokerConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.broker = Broker(config)
        self.run(self.broker.start())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the broker's loop: nothing else runs there meanwhile."""
        async def on_loop() -> T:
            return fn()
        return self.run(on_loop())

    def stop(self) -> None:
        self.run(self.broker.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture
def embedded() -> Iterator[Callable[[BrokerConfig], BrokerThread]]:
    started: list[BrokerThread] = []

    def start(config: BrokerConfig) -> BrokerThread:
        started.append(BrokerThread(config))
        return started[-1]

    yield start
    for b in started:
        if b.thread.is_alive():
            b.stop()


class Acks:
    """Acknowledged values, split by whether the client saw the ack before the cut."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.before: set[bytes] = set()
        self.after: set[bytes] = set()
        self.errors: list[str] = []
        self.cut: dict[Path, int] | None = None

    def acked(self, value: bytes) -> None:
        with self.lock:
            (self.before if self.cut is None else self.after).add(value)

    def count(self) -> int:
        with self.lock:
            return len(self.before) + len(self.after)

    def power_cut(self, ledger: SyncLedger, root: Path) -> Callable[[], None]:
        """Run on the broker's loop: every ack written so far was written before this."""
        def cut() -> None:
            with self.lock:
                self.cut = ledger.cut(root)
        return cut


def disk_image(cut: dict[Path, int], source: Path, dest: Path) -> None:
    """The data dir as a power loss at the cut leaves it: each file's synced prefix."""
    for path, length in cut.items():
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        with path.open("rb") as f:
            target.write_bytes(f.read(length))


def recovered_values(data_dir: Path) -> list[bytes]:
    """Open (and so recover) every partition log under ``data_dir``; all record values."""
    values: list[bytes] = []
    for directory in sorted((data_dir / "logs").iterdir()):
        log = Log(directory, LogConfig())
        try:
            offset = log.start_offset
            while offset < log.end_offset:
                chunk = log.read_bytes(offset, 1 << 20)
                records = rb.read_records(chunk)
                values.extend(v for off, _k, v in records if off >= offset and v is not None)
                offset = records[-1][0] + 1
        finally:
            log.close()
    return values


def confluent_producer(bootstrap: str, name: str, n: int, acks: str, sink: Acks) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2,
                         "enable.idempotence": False})

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            sink.acked(msg.value())
        else:
            sink.errors.append(str(err))

    for i in range(n):
        producer.produce("power", f"{name}-{i}".encode(), partition=i % 2,
                         on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(60) == 0


def aiokafka_producer(bootstrap: str, name: str, n: int, acks: str, sink: Acks) -> None:
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2,
                                    acks=-1 if acks == "all" else int(acks))
        await producer.start()
        try:
            pending = []
            for i in range(n):
                value = f"{name}-{i}".encode()
                future = await producer.send("power", value, partition=i % 2)
                future.add_done_callback(
                    lambda f, v=value: sink.acked(v) if f.exception() is None else None)
                pending.append(future)
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    asyncio.run(go())


def produce_through_a_power_cut(tmp_path: Path, ledger: SyncLedger,
                                start: Callable[[BrokerConfig], BrokerThread], acks: str,
                                per_producer: int = 1500) -> tuple[Acks, list[bytes]]:
    """Four concurrent clients (three librdkafka, one aiokafka) produce; the power is cut once
    about half is acknowledged; returns the acks and what the recovered image holds."""
    data = tmp_path / "data"
    broker = start(BrokerConfig(data_dir=data, port=0, default_partitions=2,
                                log=LogConfig(flush="os")))
    sink = Acks()
    jobs = [threading.Thread(target=confluent_producer,
                             args=(broker.broker.bootstrap, f"c{k}", per_producer, acks, sink))
            for k in range(3)]
    jobs.append(threading.Thread(target=aiokafka_producer,
                                 args=(broker.broker.bootstrap, "a0", per_producer, acks, sink)))
    for job in jobs:
        job.start()
    eventually(lambda: sink.count() >= 2 * per_producer, 60, interval=0.005,
               what="half the records acknowledged")
    broker.call(sink.power_cut(ledger, data))
    for job in jobs:
        job.join(90)
    broker.stop()
    assert sink.cut is not None and not sink.errors
    assert len(sink.before) >= per_producer, "the cut came mid-stream, after many acks"
    image = tmp_path / "image"
    disk_image(sink.cut, data, image)
    return sink, recovered_values(image)


def test_power_loss_keeps_every_record_acknowledged_with_acks_all(
        tmp_path: Path, ledger: SyncLedger,
        embedded: Callable[[BrokerConfig], BrokerThread]) -> None:
    sink, survived = produce_through_a_power_cut(tmp_path, ledger, embedded, "all")
    lost = sink.before - set(survived)
    assert not lost, f"{len(lost)} of {len(sink.before)} acknowledged records lost"
    assert len(survived) == len(set(survived)), "no record twice"


def test_power_loss_loses_records_acknowledged_with_acks_1(
        tmp_path: Path, ledger: SyncLedger,
        embedded: Callable[[BrokerConfig], BrokerThread]) -> None:
    """The control: acks=1 stays in the page cache, so the same cut loses acknowledged
    records; the harness does see the difference."""
    sink, survived = produce_through_a_power_cut(tmp_path, ledger, embedded, "1")
    lost = sink.before - set(survived)
    assert len(lost) > len(sink.before) // 2, "page-cache-only acks do not survive the cut"


def crash(broker: BrokerThread, sink: Acks, ledger: SyncLedger, root: Path) -> None:
    """The power cut, then nothing more from this broker: stop listening and drop every
    connection in the same loop turn, so no ack can leave after the cut."""
    def cut_and_vanish() -> None:
        sink.power_cut(ledger, root)()
        server = broker.broker._server  # the embedding's own handles: a test-only crash
        assert server is not None
        server.close()
        for connection in list(broker.broker._connections):
            connection.close()
    broker.call(cut_and_vanish)


@pytest.mark.parametrize("flush", ["interval", "os"])
def test_idempotent_producer_survives_a_power_loss_and_restart(
        tmp_path: Path, ledger: SyncLedger, embedded: Callable[[BrokerConfig], BrokerThread],
        flush: str) -> None:
    """librdkafka with enable.idempotence: the broker loses power mid-stream and comes back
    on the same port from the cut image. Its sequence state must agree with what the
    producer was told, or the producer dies with a fatal OUT_OF_ORDER_SEQUENCE_NUMBER."""
    from confluent_kafka import Producer

    data, image = tmp_path / "data", tmp_path / "image"
    log = LogConfig(flush=flush, flush_interval_ms=50)  # type: ignore[arg-type]
    first = embedded(BrokerConfig(data_dir=data, port=0, log=log))
    port = first.broker.port
    sink = Acks()
    fatal: list[str] = []
    producer = Producer({"bootstrap.servers": first.broker.bootstrap, "linger.ms": 2,
                         "enable.idempotence": True, "reconnect.backoff.max.ms": 200,
                         "error_cb": lambda err: fatal.append(str(err)) if err.fatal() else None})

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            sink.acked(msg.value())
        else:
            sink.errors.append(str(err))

    n = 6000
    for i in range(n):
        producer.produce("idem", f"m-{i}".encode(), on_delivery=on_delivery)
        producer.poll(0)
        if i == n // 2:  # poll() runs the delivery callbacks
            eventually(lambda: producer.poll(0.01) >= 0 and sink.count() >= n // 4, 30,
                       interval=0, what="a quarter acknowledged")
            crash(first, sink, ledger, data)
            first.stop()
            assert sink.cut is not None
            disk_image(sink.cut, data, image)
            second = embedded(BrokerConfig(data_dir=image, port=port, log=log))
    remaining = producer.flush(60)
    second.stop()
    assert not fatal, fatal
    assert remaining == 0 and not sink.errors, sink.errors[:3]
    assert sink.count() == n, "every message acknowledged in the end"
    values = recovered_values(image)
    assert values == [f"m-{i}".encode() for i in range(n)], "each once, in order"
