"""Probes that measure an emulated link from inside its namespaces, printing JSON:

    python -m bazaar.netem.probe echo ADDRESS PORT READY_FILE     # UDP echo + TCP sink
    python -m bazaar.netem.probe ping ADDRESS PORT COUNT INTERVAL_S
    python -m bazaar.netem.probe send ADDRESS PORT BYTES

``ping`` sends numbered UDP datagrams and reports each round trip (a lost one has none);
``send`` pushes BYTES over one TCP connection to the sink and reports the rate at which the
sink confirmed them (the sink answers the byte count once it has read them all).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time
from pathlib import Path


def _sink(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            header = conn.recv(8, socket.MSG_WAITALL)
            if len(header) < 8:
                continue
            want = struct.unpack("!Q", header)[0]
            got = 0
            while got < want:
                chunk = conn.recv(min(1 << 16, want - got))
                if not chunk:
                    break
                got += len(chunk)
            conn.sendall(struct.pack("!Q", got))


def echo(address: str, port: int, ready: Path) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((address, port))
    tcp.listen(16)
    threading.Thread(target=_sink, args=(tcp,), daemon=True).start()
    ready.write_text("ready")
    while True:
        data, peer = udp.recvfrom(2048)
        udp.sendto(data, peer)


def ping(address: str, port: int, count: int, interval: float) -> dict[str, object]:
    """``count`` datagrams ``interval`` apart; the replies that came within a second of
    the last (or sooner, once all have)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((address, port))
    sent_at: dict[int, float] = {}
    rtts: dict[int, float] = {}
    next_send = time.perf_counter()
    seq = 0
    deadline = None
    while True:
        now = time.perf_counter()
        if seq < count and now >= next_send:
            sent_at[seq] = now
            s.send(struct.pack("!I", seq) + b"x" * 60)
            seq += 1
            next_send += interval
            if seq == count:
                deadline = now + 1.0
        if deadline is not None and (now >= deadline or len(rtts) == count):
            break
        wait = max(0.0, (next_send if seq < count else (deadline or now)) - now)
        ready, _, _ = select.select([s], [], [], wait)
        if ready:
            try:
                data = s.recv(2048)
            except ConnectionRefusedError:
                continue
            arrived = time.perf_counter()
            n = struct.unpack("!I", data[:4])[0]
            if n in sent_at and n not in rtts:
                rtts[n] = (arrived - sent_at[n]) * 1000
    return {"sent": count, "received": len(rtts),
            "rtt_ms": [rtts.get(i) for i in range(count)]}


def send(address: str, port: int, nbytes: int) -> dict[str, object]:
    with socket.create_connection((address, port), timeout=60) as s:
        started = time.perf_counter()
        s.sendall(struct.pack("!Q", nbytes))
        block = b"\0" * (1 << 16)
        left = nbytes
        while left:
            s.sendall(block[:min(left, len(block))])
            left -= min(left, len(block))
        confirmed = struct.unpack("!Q", s.recv(8, socket.MSG_WAITALL))[0]
        elapsed = time.perf_counter() - started
    return {"bytes": confirmed, "seconds": elapsed, "mbit_s": confirmed * 8 / elapsed / 1e6}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "echo" and len(args) == 3:
        echo(args[0], int(args[1]), Path(args[2]))
        return 0
    if cmd == "ping" and len(args) == 4:
        print(json.dumps(ping(args[0], int(args[1]), int(args[2]), float(args[3]))))
        return 0
    if cmd == "send" and len(args) == 3:
        print(json.dumps(send(args[0], int(args[1]), int(args[2]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
