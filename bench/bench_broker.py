"""Bazaar Log vs NATS JetStream vs Redis Streams: produce and consume throughput.

Bazaar Log is driven by librdkafka (confluent-kafka), the peers by their Python clients
(nats-py, redis-py pipelined), each against a real server started here; every row is the
best of two (``--quick``) or three repetitions, because the machine is shared. 100-byte and
1 KiB messages; msgs/s and MB/s; and the broker's CPU seconds per GiB served (from
/proc, for the consume phase), next to the sendfile floor measured in the same run. Then the
cost of acks=all on disk (group commit) against acks=1 (``python bench/bench_broker.py
--acks`` runs only that part), transactional against idempotent produce (``--txn``), and
what TLS and SASL/SCRAM (with ACLs checked) cost against plaintext (``--security``).
``--hot`` runs only the Bazaar Log rows (the produce/fetch hot path, for before/after
comparisons); ``--compaction`` the log cleaner: its throughput, and a produce stream's
rate while a compacted topic is being cleaned against the same stream with the cleaner idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bazaar import localservers
from bazaar.broker import run_subprocess

MB = 1_000_000


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bazaar(bootstrap: str, pid: int, size: int, n: int, topic: str,
           security: dict[str, str] | None = None) -> dict[str, float]:
    from confluent_kafka import Consumer, Producer, TopicPartition

    payload = os.urandom(size)
    security = security or {}
    producer = Producer({"bootstrap.servers": bootstrap, **security, "linger.ms": 5, "acks": 1,
                         "batch.size": 1_000_000, "queue.buffering.max.messages": 1_000_000,
                         "queue.buffering.max.kbytes": 1_048_576})
    cpu0 = _cpu_seconds(pid)
    started = time.perf_counter()
    for _ in range(n):
        try:
            producer.produce(topic, payload)
        except BufferError:
            producer.poll(0.01)
            producer.produce(topic, payload)
    producer.flush(120)
    produce_s = time.perf_counter() - started
    produce_cpu = _cpu_seconds(pid) - cpu0
    consumer = Consumer({"bootstrap.servers": bootstrap, **security, "group.id": topic,
                         "enable.auto.commit": False, "fetch.max.bytes": 64 * 1024 * 1024,
                         "max.partition.fetch.bytes": 16 * 1024 * 1024,
                         "queued.max.messages.kbytes": 1_048_576, "fetch.wait.max.ms": 100,
                         # librdkafka otherwise pauses 1 s once 100k messages are queued
                         "queued.min.messages": 10_000_000, "fetch.queue.backoff.ms": 1})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = 0
    cpu0 = _cpu_seconds(pid)
    started = time.perf_counter()
    while got < n:
        got += len(consumer.consume(100_000, 1.0))
    consume_s = time.perf_counter() - started
    cpu = _cpu_seconds(pid) - cpu0
    consumer.close()
    gib = n * size / 2**30
    return {"produce_s": produce_s, "consume_s": consume_s, "cpu_per_gib": cpu / gib,
            "produce_cpu_per_gib": produce_cpu / gib}


async def _jetstream(url: str, size: int, n: int, subject: str) -> dict[str, float]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name=subject.upper(), subjects=[subject])
    payload = os.urandom(size)
    started = time.perf_counter()
    for _ in range(n):
        await js.publish_async(subject, payload, wait_stall=5.0)
    await js.publish_async_completed()
    produce_s = time.perf_counter() - started
    sub = await js.pull_subscribe(subject, durable="bench",
                                  config=ConsumerConfig(ack_policy=AckPolicy.NONE))
    got = 0
    started = time.perf_counter()
    while got < n:
        got += len(await sub.fetch(batch=min(1000, n - got), timeout=5))
    consume_s = time.perf_counter() - started
    await nc.close()
    return {"produce_s": produce_s, "consume_s": consume_s}


def _redis(url: str, size: int, n: int, key: str) -> dict[str, float]:
    import redis

    client = redis.Redis.from_url(url)
    payload = os.urandom(size)
    started = time.perf_counter()
    for start in range(0, n, 1000):
        pipe = client.pipeline(transaction=False)
        for _ in range(min(1000, n - start)):
            pipe.xadd(key, {"v": payload})
        pipe.execute()
    produce_s = time.perf_counter() - started
    got, last = 0, "0"
    started = time.perf_counter()
    while got < n:
        chunk: Any = client.xread({key: last}, count=10_000)
        entries = chunk[0][1]
        got += len(entries)
        last = entries[-1][0]
    consume_s = time.perf_counter() - started
    client.close()
    return {"produce_s": produce_s, "consume_s": consume_s}


def sendfile_floor(gib: float = 0.25) -> float:
    """CPU seconds per GiB to push a cached file over loopback with os.sendfile."""
    with tempfile.NamedTemporaryFile() as f:
        f.write(os.urandom(1 << 20) * int(gib * 1024))
        f.flush()
        size = os.fstat(f.fileno()).st_size
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]

        def drain() -> None:
            conn, _ = server.accept()
            while conn.recv(1 << 20):
                pass
            conn.close()

        t = threading.Thread(target=drain)
        t.start()
        sock = socket.create_connection(("127.0.0.1", port))
        before = time.process_time()
        sent = 0
        while sent < size:
            sent += os.sendfile(sock.fileno(), f.fileno(), sent, size - sent)
        cpu = time.process_time() - before
        sock.close()
        t.join()
        server.close()
        return cpu / (size / 2**30)


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    """Fastest produce and consume of the repetitions (the machine is shared); CPU per GiB
    averaged (a short phase may round to zero clock ticks)."""
    return {"produce_s": min(r["produce_s"] for r in runs),
            "consume_s": min(r["consume_s"] for r in runs),
            **{k: sum(r[k] for r in runs) / len(runs) for k in runs[0] if k.endswith("per_gib")}}


def _metric(port: int, name: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    return next((float(line.split()[-1]) for line in text.decode().splitlines()
                 if line.startswith(name)), 0.0)  # 0 on a broker without group commit


def acks_cost(bootstrap: str, metrics_port: int, acks: str, producers: int, n: int,
              topic: str) -> dict[str, float]:
    """``producers`` concurrent librdkafka producers (one connection each), 100 B messages,
    linger 5 ms, as fast as they go: total msgs/s, delivery latency p50/p99 (produce() to
    ack, client queueing included) and produce requests per group-commit fsync round."""
    from confluent_kafka import Producer

    latencies: list[float] = []
    lock = threading.Lock()
    rounds0 = _metric(metrics_port, "bazaar_broker_group_commit_rounds_total")
    durable0 = _metric(metrics_port, "bazaar_broker_group_commit_requests_total")

    def one(k: int) -> None:
        mine: list[float] = []
        producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
                             "enable.idempotence": False,
                             "queue.buffering.max.messages": 1_000_000})

        def done(err: Any, msg: Any) -> None:
            if err is None:
                mine.append(msg.latency())

        payload = os.urandom(100)
        for _ in range(n // producers):
            while True:
                try:
                    producer.produce(topic, payload, partition=k % 2, on_delivery=done)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        producer.flush(120)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(producers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    rounds = _metric(metrics_port, "bazaar_broker_group_commit_rounds_total") - rounds0
    durable = _metric(metrics_port, "bazaar_broker_group_commit_requests_total") - durable0
    return {"msgs_s": len(latencies) / elapsed, **_percentiles(latencies),
            "per_round": durable / rounds if rounds else 0.0}


def round_trip(bootstrap: str, acks: str, n: int, topic: str) -> dict[str, float]:
    """One message at a time, each flushed before the next: the unloaded latency of an ack."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 0,
                         "enable.idempotence": False})
    producer.produce(topic, b"warm-up")
    producer.flush(10)
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        producer.produce(topic, b"x" * 100)
        producer.flush(10)
        latencies.append(time.perf_counter() - started)
    return _percentiles(latencies)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000}


def main_acks(quick: bool) -> None:
    """acks=1 (page cache: what acks=all was before group commit) vs acks=all (fsynced)."""
    from bazaar.processes import free_port

    n = 200_000 if quick else 800_000
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-acks-") as d, \
            run_subprocess(Path(d) / "data", args=("--metrics-port", str(port),
                                                   "--partitions", "2")) as b:
        print(f"\nthroughput, 100 B, linger 5 ms (best of 2)\n{'acks':<6}{'producers':>10}"
              f"{'msgs/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'requests/fsync':>16}")
        for producers in (1, 4):
            for acks in ("1", "all"):
                runs = [acks_cost(b.bootstrap, port, acks, producers, n,
                                  f"acks-{acks}-{producers}-{i}") for i in range(2)]
                r = max(runs, key=lambda x: x["msgs_s"])
                per_round = f"{r['per_round']:.1f}" if acks == "all" else "-"
                print(f"{acks:<6}{producers:>10}{r['msgs_s']:>12,.0f}{r['p50_ms']:>9.1f}"
                      f"{r['p99_ms']:>9.1f}{per_round:>16}")
        print(f"\none message at a time (produce + flush), unloaded\n{'acks':<6}"
              f"{'p50 ms':>9}{'p99 ms':>9}")
        for acks in ("1", "all"):
            r = round_trip(b.bootstrap, acks, 300 if quick else 2000, f"rtt-{acks}")
            print(f"{acks:<6}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}")


def txn_throughput(bootstrap: str, n: int, per_txn: int | None, topic: str) -> float:
    """msgs/s of one librdkafka producer, 100 B messages: idempotent (``per_txn`` None) or
    transactional, committing every ``per_txn`` messages."""
    from confluent_kafka import Producer

    config: dict[str, Any] = {"bootstrap.servers": bootstrap, "linger.ms": 5,
                              "batch.size": 1_000_000,
                              "queue.buffering.max.messages": 1_000_000,
                              "enable.idempotence": True}
    if per_txn is not None:
        config["transactional.id"] = topic
    producer = Producer(config)
    payload = os.urandom(100)
    if per_txn is not None:
        producer.init_transactions(30)
    started = time.perf_counter()
    sent = 0
    while sent < n:
        if per_txn is not None:
            producer.begin_transaction()
        for _ in range(min(per_txn or n, n - sent)):
            try:
                producer.produce(topic, payload)
            except BufferError:
                producer.poll(0.01)
                producer.produce(topic, payload)
            sent += 1
        if per_txn is not None:
            producer.commit_transaction(60)
    producer.flush(120)
    return n / (time.perf_counter() - started)


def main_txn(quick: bool) -> None:
    """Transactional produce (commit every 100 / 1,000 / 10,000 messages) against the
    idempotent producer it is built on, same broker, same run."""
    n = 100_000 if quick else 400_000
    with tempfile.TemporaryDirectory(prefix="bench-txn-") as d, \
            run_subprocess(Path(d) / "data") as b:
        print(f"\ntransactional vs idempotent produce, librdkafka, 100 B, {n:,} messages "
              f"(best of 2)\n{'producer':<28}{'msgs/s':>12}{'vs idempotent':>15}")
        base = max(txn_throughput(b.bootstrap, n, None, f"idem-{i}") for i in range(2))
        print(f"{'idempotent':<28}{base:>12,.0f}{1.0:>15.2f}")
        for per_txn in (100, 1_000, 10_000):
            rate = max(txn_throughput(b.bootstrap, n, per_txn, f"txn-{per_txn}-{i}")
                       for i in range(2))
            label = f"transactional, {per_txn:,}/txn"
            print(f"{label:<28}{rate:>12,.0f}{rate / base:>15.2f}")


def _login_ms(bootstrap: str, security: dict[str, str], count: int) -> float:
    """Median ms for a new librdkafka client to connect (TLS, SASL) and get metadata."""
    from confluent_kafka.admin import AdminClient

    times = []
    for _ in range(count):
        started = time.perf_counter()
        AdminClient({"bootstrap.servers": bootstrap, **security}).list_topics(timeout=30)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[len(times) // 2]


def main_security(quick: bool) -> None:
    """Produce and consume (1 KiB and 100 B, librdkafka) on one broker per listener kind, same
    run: PLAINTEXT (today's rates), SSL, SASL_PLAINTEXT and SASL_SSL with SCRAM-SHA-256 as a
    user whose rights come from ACLs (so every request passes the authorizer)."""
    import importlib.util
    import sys

    from bazaar.broker.security import Acl, AclStore, CredentialStore

    # the tests' throwaway CA (tests/support/tls.py), loaded by path: bench is not a package
    spec = importlib.util.spec_from_file_location(
        "bench_tls", Path(__file__).resolve().parent.parent / "tests" / "support" / "tls.py")
    assert spec is not None and spec.loader is not None
    tls = importlib.util.module_from_spec(spec)
    sys.modules["bench_tls"] = tls  # dataclasses look their module up there
    spec.loader.exec_module(tls)
    make_ca = tls.make_ca

    sizes = {1024: 100_000 if quick else 400_000, 100: 200_000 if quick else 1_000_000}
    reps = 2 if quick else 3
    with tempfile.TemporaryDirectory(prefix="bench-sec-") as d:
        ca = make_ca(Path(d) / "ca")
        tls_args = ("--tls-cert", str(ca.server_cert), "--tls-key", str(ca.server_key))
        sasl_args = ("--sasl", "SCRAM-SHA-256")
        scram = {"sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "bench",
                 "sasl.password": "bench-password"}
        kinds = [("PLAINTEXT", (), {}),
                 ("SSL", tls_args, {"security.protocol": "SSL",
                                    "ssl.ca.location": str(ca.ca_cert)}),
                 ("SASL_PLAINTEXT", sasl_args, {"security.protocol": "SASL_PLAINTEXT",
                                                **scram}),
                 ("SASL_SSL", (*tls_args, *sasl_args), {"security.protocol": "SASL_SSL",
                                                         "ssl.ca.location": str(ca.ca_cert),
                                                         **scram})]
        results: dict[str, dict[int, tuple[float, float]]] = {n: {} for n, _, _ in kinds}
        logins: dict[str, float] = {}
        with contextlib.ExitStack() as stack:  # all four at once, measured in turns
            brokers = {}
            for name, args, _client in kinds:
                data = Path(d) / name / "data"
                CredentialStore.under(data).add("bench", "bench-password")
                acls = AclStore.under(data)
                acls.add(Acl("User:bench", "topic", "sec-", "ALL", "prefixed"))
                acls.add(Acl("User:bench", "group", "sec-", "ALL", "prefixed"))
                brokers[name] = stack.enter_context(run_subprocess(
                    data, args=("--segment-bytes", str(1 << 30), *args)))
            runs: dict[tuple[str, int], list[dict[str, float]]] = {}
            for i in range(reps):  # rep i of every listener before rep i+1: load drifts
                for size, n in sizes.items():
                    for name, _args, client in kinds:
                        b = brokers[name]
                        runs.setdefault((name, size), []).append(bazaar(
                            b.bootstrap, b.process.pid, size, n, f"sec-{size}-{i}", client))
            for (name, size), rs in runs.items():
                r = _best(rs)
                results[name][size] = (sizes[size] / r["produce_s"],
                                       sizes[size] / r["consume_s"])
            for name, _args, client in kinds:
                logins[name] = _login_ms(brokers[name].bootstrap, client, 5 if quick else 20)
    base = results["PLAINTEXT"]
    print(f"\nsecurity cost, librdkafka, best of {reps}: msgs/s and the ratio to PLAINTEXT "
          f"(same run)\n{'listener':<16}{'size':>6}{'prod msg/s':>13}{'x':>7}"
          f"{'cons msg/s':>13}{'x':>7}{'connect+auth ms':>17}")
    for name, by_size in results.items():
        for size, (prod, cons) in by_size.items():
            print(f"{name:<16}{size:>6}{prod:>13,.0f}{prod / base[size][0]:>7.2f}"
                  f"{cons:>13,.0f}{cons / base[size][1]:>7.2f}{logins[name]:>17.1f}")


def main(quick: bool) -> None:
    sizes = {100: (300_000 if quick else 1_000_000, 20_000 if quick else 100_000),
             1024: (100_000 if quick else 400_000, 10_000 if quick else 50_000)}
    reps = 2 if quick else 3
    rows: list[tuple[str, int, int, float, float]] = []
    cpu: dict[int, float] = {}
    produce_cpu: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as d, \
            run_subprocess(Path(d) / "data", args=("--segment-bytes", str(1 << 30))) as b:
        for size, (n, _peer_n) in sizes.items():
            r = _best([bazaar(b.bootstrap, b.process.pid, size, n, f"bench-{size}-{i}")
                       for i in range(reps)])
            rows.append(("bazaar-log", size, n, r["produce_s"], r["consume_s"]))
            cpu[size] = r["cpu_per_gib"]
            produce_cpu[size] = r["produce_cpu_per_gib"]
    try:
        with localservers.nats() as server:
            for size, (_n, peer_n) in sizes.items():
                r = _best([asyncio.run(_jetstream(server.url, size, peer_n, f"bench{size}x{i}"))
                           for i in range(reps)])
                rows.append(("nats-jetstream", size, peer_n, r["produce_s"], r["consume_s"]))
    except localservers.ServerUnavailable as exc:
        print(f"skipping NATS JetStream: {exc}")
    try:
        with localservers.redis() as server:
            for size, (n, _peer_n) in sizes.items():
                peer = n // 3
                r = _best([_redis(server.url, size, peer, f"bench-{size}-{i}")
                           for i in range(reps)])
                rows.append(("redis-streams", size, peer, r["produce_s"], r["consume_s"]))
    except localservers.ServerUnavailable as exc:
        print(f"skipping Redis Streams: {exc}")
    floor = sendfile_floor(0.125 if quick else 0.5)

    print(f"\n{'system':<16}{'size':>6}{'msgs':>9}{'prod msg/s':>13}{'prod MB/s':>11}"
          f"{'cons msg/s':>13}{'cons MB/s':>11}")
    rates: dict[tuple[str, int], tuple[float, float]] = {}
    for system, size, n, ps, cs in rows:
        rates[(system, size)] = (n / ps, n / cs)
        print(f"{system:<16}{size:>6}{n:>9}{n / ps:>13,.0f}{n * size / ps / MB:>11.1f}"
              f"{n / cs:>13,.0f}{n * size / cs / MB:>11.1f}")
    probe = {100: (713_000, 177_000), 1024: (284_000, 484_000)}
    print("\nratios (Bazaar Log / other), produce · consume:")
    for size in sizes:
        ours = rates[("bazaar-log", size)]
        for other in ("nats-jetstream", "redis-streams"):
            if (other, size) in rates:
                theirs = rates[(other, size)]
                print(f"  {size:>5} B vs {other:<15} {ours[0] / theirs[0]:6.1f}x · "
                      f"{ours[1] / theirs[1]:6.1f}x")
        print(f"  {size:>5} B vs probe broker    {ours[0] / probe[size][0]:6.2f}x · "
              f"{ours[1] / probe[size][1]:6.2f}x  (MEASURED.md figures, not this run)")
    print("\nbroker CPU per GiB consumed: "
          + ", ".join(f"{s} B {c:.2f} s" for s, c in cpu.items())
          + f"; os.sendfile floor {floor:.2f} s/GiB")
    print("broker CPU per GiB produced: "
          + ", ".join(f"{s} B {c:.2f} s" for s, c in produce_cpu.items()))
    main_acks(quick)
    main_txn(quick)
    main_security(quick)


def main_hot(quick: bool) -> None:
    sizes = {100: 300_000 if quick else 1_000_000, 1024: 100_000 if quick else 400_000}
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as d, \
            run_subprocess(Path(d) / "data", args=("--segment-bytes", str(1 << 30))) as b:
        print(f"{'size':>6}{'msgs':>9}{'prod msg/s':>13}{'cons msg/s':>13}")
        for size, n in sizes.items():
            r = _best([bazaar(b.bootstrap, b.process.pid, size, n, f"hot-{size}-{i}")
                       for i in range(2)])
            print(f"{size:>6}{n:>9}{n / r['produce_s']:>13,.0f}{n / r['consume_s']:>13,.0f}")


def _produce_rate(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1,
                         "queue.buffering.max.messages": 1_000_000})
    payload = os.urandom(100)
    started = time.perf_counter()
    for _ in range(n):
        try:
            producer.produce(topic, payload)
        except BufferError:
            producer.poll(0.01)
            producer.produce(topic, payload)
    producer.flush(120)
    return n / (time.perf_counter() - started)


def main_compaction(quick: bool) -> None:
    """Cleaner MB/s, and produce msgs/s to another topic while it cleans vs while idle."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewTopic,
    )

    fill_mb = 60 if quick else 240
    n = 200_000 if quick else 600_000
    with tempfile.TemporaryDirectory(prefix="bench-clean-") as d, \
            run_subprocess(Path(d) / "data", args=("--cleaner-interval-ms", "50"),
                           ) as b:
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        admin.create_topics([NewTopic("state", 1, 1, config={"segment.bytes": str(1 << 20)}),
                             NewTopic("stream", 1, 1)])["state"].result(30)
        producer = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5, "acks": 1})
        value = os.urandom(1000)
        for i in range(fill_mb * 1000):  # 1 KB records over 2,000 keys: ~97% superseded
            while True:
                try:
                    producer.produce("state", value, key=b"key-%d" % (i % 2000))
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(120)
        idle = _produce_rate(b.bootstrap, "stream", n)
        state_dir = Path(d) / "data" / "logs" / "state-0"
        before = sum(p.stat().st_size for p in state_dir.glob("*.log"))
        resource = ConfigResource("TOPIC", "state", incremental_configs=[
            ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("min.cleanable.dirty.ratio", "0.01",
                        incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([resource])[resource].result(30)
        started = time.perf_counter()
        time.sleep(0.2)  # the cleaner's next look (every 50 ms) starts the pass
        cleaning = _produce_rate(b.bootstrap, "stream", n)
        during = not (state_dir / "cleaner.json").exists()
        while not (state_dir / "cleaner.json").exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        after = sum(p.stat().st_size for p in state_dir.glob("*.log"))
        idle_again = _produce_rate(b.bootstrap, "stream", n)
    print(f"cleaner: {before / MB:.1f} MB -> {after / MB:.1f} MB in {seconds:.2f} s "
          f"(<= {before / MB / seconds:.1f} MB/s read, first pass done after the alter)")
    print(f"produce 100 B, another topic: idle {idle:,.0f} msgs/s, while cleaning "
          f"{cleaning:,.0f} msgs/s ({cleaning / idle:.2f}x; cleaning covered the whole "
          f"window: {during}), idle again {idle_again:,.0f} msgs/s")


if __name__ == "__main__":
    import sys

    if "--hot" in sys.argv:
        main_hot(quick="--full" not in sys.argv)
    elif "--compaction" in sys.argv:
        main_compaction(quick="--full" not in sys.argv)
    elif "--acks" in sys.argv:
        main_acks(quick="--full" not in sys.argv)
    elif "--security" in sys.argv:
        main_security(quick="--full" not in sys.argv)
    elif "--txn" in sys.argv:
        main_txn(quick="--full" not in sys.argv)
    else:
        main(quick=True)
