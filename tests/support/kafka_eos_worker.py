"""A consume-transform-produce worker with a transactional librdkafka producer: the
exactly-once loop Kafka's documentation describes, run as a process by the broker's
exactly-once test (which kills it, and the broker, with SIGKILL).

    python kafka_eos_worker.py BOOTSTRAP SOURCE SINK GROUP TRANSACTIONAL_ID PAUSE_S

Each transaction: consume up to 100 records (read_committed), produce ``T:<value>`` to the
same partition of SINK, flush, print ``open N``, sleep PAUSE_S (so a kill lands inside a
transaction), add the consumer's positions to the transaction, commit, print
``committed N``. An abortable error aborts and rewinds to the committed offsets; a fatal one
exits 3. Exits 0 once its partitions are read to the end and 6 s passed without input.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)


def rewind(consumer: Consumer) -> None:
    """Back to the group's committed offsets (the last committed transaction's)."""
    for tp in consumer.committed(consumer.assignment(), timeout=30):
        offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
        consumer.seek(TopicPartition(tp.topic, tp.partition, offset))


def caught_up(consumer: Consumer) -> bool:
    """Assigned partitions, each read to its end (after a restart or rebalance an empty
    poll means nothing until this holds)."""
    assignment = consumer.assignment()
    if not assignment:
        return False
    for tp in consumer.position(assignment):
        _low, high = consumer.get_watermark_offsets(tp, timeout=10)
        if tp.offset < high:
            return False
    return True


def finish(producer: Producer, consumer: Consumer) -> bool:
    """Add the offsets and commit; False if the transaction had to be aborted."""
    offsets_sent = False
    for _attempt in range(60):
        try:
            if not offsets_sent:
                producer.send_offsets_to_transaction(
                    consumer.position(consumer.assignment()),
                    consumer.consumer_group_metadata(), 30)
                offsets_sent = True
            producer.commit_transaction(30)
            return True
        except KafkaException as exc:
            err: KafkaError = exc.args[0]
            print("error", err, flush=True)
            if err.txn_requires_abort():
                producer.abort_transaction(60)
                rewind(consumer)
                return False
            if not err.retriable():
                raise
            time.sleep(0.5)
    raise SystemExit("commit kept failing")


def main(bootstrap: str, source: str, sink: str, group: str, txn_id: str,
         pause_s: float) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest",
                         # a killed predecessor leaves the group within 6 s, not 45
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    debug = {"debug": sys.argv[7]} if len(sys.argv) > 7 else {}
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                         "linger.ms": 5, "transaction.timeout.ms": 20000,
                         # librdkafka 2.16's default ("rebootstrap") decommissions the broker
                         # handles while the only broker is down, and a pending
                         # send_offsets_to_transaction then hangs past its timeout
                         "metadata.recovery.strategy": "none", **debug})
    producer.init_transactions(60)
    consumer.subscribe([source])
    print("ready", flush=True)
    last_input = time.monotonic() + 120  # the first input may wait for a rebalance
    try:
        while time.monotonic() - last_input < 6:
            batch = [m for m in consumer.consume(100, 0.5) if m.error() is None]
            if not batch:
                if not caught_up(consumer):
                    last_input = max(last_input, time.monotonic())
                continue
            last_input = time.monotonic()
            producer.begin_transaction()
            for m in batch:
                producer.produce(sink, value=b"T:" + m.value(), partition=m.partition())
            producer.flush(60)
            print("open", len(batch), flush=True)
            time.sleep(pause_s)
            if finish(producer, consumer):
                print("committed", len(batch), flush=True)
            last_input = time.monotonic()  # a commit retried through an outage is not idle
    except KafkaException as exc:
        print("fatal", exc.args[0], flush=True)
        return 3
    else:
        print("done", [(tp.partition, tp.offset) for tp in
                       consumer.position(consumer.assignment())], flush=True)
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6], float(sys.argv[6])))
