"""Exactly-once consume-transform-produce with librdkafka's transactional producer, through
a kill -9 of the worker and a kill -9 of the broker: a read_committed reader of the output
sees every input record transformed exactly once, in partition order, and nothing of the
transactions that were aborted (the records of those are in the log: a read_uncommitted
reader sees them)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from confluent_kafka import Producer
from tests.support.kafka_clients import consume_by_partition, create_topics

from bazaar.broker import BrokerProcess, start_subprocess
from bazaar.processes import Child, eventually

WORKER = Path(__file__).parents[2] / "support" / "kafka_eos_worker.py"
N = 1500


def _worker(tmp: Path, run: int, bootstrap: str) -> Child:
    return Child([sys.executable, str(WORKER), bootstrap, "in", "out", "etl", "etl-txn",
                  "0.3"], name=f"eos-worker-{run}", log=tmp / f"worker-{run}.log").spawn()


def _count(child: Child, word: str) -> int:
    return sum(1 for line in child.log_text().splitlines() if line.startswith(word + " "))


def _opened_after(child: Child, committed: int) -> bool:
    """A transaction is open (flushed, not committed) after ``committed`` commits."""
    lines = [ln.split()[0] for ln in child.log_text().splitlines()
             if ln.startswith(("open ", "committed "))]
    return _count(child, "committed") >= committed and bool(lines) and lines[-1] == "open"


def test_consume_transform_produce_survives_kill_9_of_worker_and_broker(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker: BrokerProcess = start_subprocess(data)
    port = broker.port
    workers: list[Child] = []
    try:
        create_topics(broker.bootstrap, 2, "in", "out")
        plain = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
        for i in range(N):
            plain.produce("in", value=f"m{i:05d}".encode(), partition=i % 2)
        assert plain.flush(30) == 0

        first = _worker(tmp_path, 1, broker.bootstrap)
        workers.append(first)
        eventually(lambda: _opened_after(first, 3), timeout=120,
                   what="three committed transactions, then an open one")
        first.kill()  # a zombie: its open transaction is on disk, never committed

        second = _worker(tmp_path, 2, broker.bootstrap)
        workers.append(second)
        eventually(lambda: _opened_after(second, 2), timeout=120,
                   what="the successor committing, then opening one more")
        broker.kill()  # mid-transaction too
        time.sleep(1)
        broker = start_subprocess(data, port)

        run = 3
        current = second
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            code = current.returncode
            if code == 0:
                break
            if code is not None:  # fatal after the outage: start a new instance
                current = _worker(tmp_path, run, broker.bootstrap)
                workers.append(current)
                run += 1
            time.sleep(0.5)
        assert current.returncode == 0, [w.log_text()[-2000:] for w in workers]

        committed = consume_by_partition(broker.bootstrap, "out", "read_committed",
                                         expect=N)
        expected = {p: [f"T:m{i:05d}".encode() for i in range(N) if i % 2 == p]
                    for p in (0, 1)}
        assert committed == expected
        everything = consume_by_partition(broker.bootstrap, "out", "read_uncommitted",
                                          expect=N)
        assert sum(map(len, everything.values())) > N  # the aborted transactions' records
    finally:
        for w in workers:
            if w.alive:
                w.kill()
        broker.kill()
