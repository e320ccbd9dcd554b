"""The forwarder: moves real IP packets between the TUN devices of network namespaces,
each after its link's delay, loss and rate. Run as ``python -m bazaar.netem._forwarder
CONFIG.json`` by :class:`bazaar.netem.Network`; one thread, ``select`` with microsecond
timeouts (epoll's are whole milliseconds), a heap of packets due.

Each namespace gets a TUN device ``tun0`` holding its address in the network's /24, so the
kernel there routes every other host through it. The device is opened here (in that
namespace, by ``setns``) and is not persistent: it vanishes when this process ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bazaar.netem._spec import LinkSpec, NetemError

_CLONE_NEWNET = 0x40000000
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
#: Packets read from one device per wake-up before the due ones are delivered.
_READ_BATCH = 64


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetemError(f"setns({path}) failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tun(netns: str, name: str = "tun0") -> int:
    """A non-blocking descriptor of a new TUN device ``name`` in namespace ``netns``."""
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/run/netns/{netns}")
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(),
                                                     _IFF_TUN | _IFF_NO_PI))
        finally:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(here, _CLONE_NEWNET) != 0:
                raise NetemError("could not return to the forwarder's own namespace")
    finally:
        os.close(here)
    return fd


@dataclass
class _Link:
    spec: LinkSpec
    free_at: float = 0.0        # when the last queued packet has been serialised
    last_due: float = 0.0       # packets leave in order, whatever the jitter
    stats: dict[str, int] = field(default_factory=lambda: {
        "packets": 0, "bytes": 0, "lost": 0, "queue_drops": 0})


class Forwarder:
    def __init__(self, config: dict[str, Any]) -> None:
        self.hosts: list[dict[str, str]] = config["hosts"]
        self.rng = random.Random(config.get("seed"))
        self.default = LinkSpec.from_json(config.get("default", {}))
        self.by_address = {socket.inet_aton(h["address"]): i for i, h in enumerate(self.hosts)}
        self.links: dict[tuple[int, int], _Link] = {}
        index = {h["name"]: i for i, h in enumerate(self.hosts)}
        self.index = index
        for a in range(len(self.hosts)):
            for b in range(len(self.hosts)):
                if a != b:
                    self.links[(a, b)] = _Link(self.default)
        for entry in config.get("links", []):
            self._set(entry)
        self.fds: list[int] = []
        self.heap: list[tuple[float, int, int, bytes]] = []
        self.seq = 0
        self.control_path = config["control"]

    def _set(self, entry: dict[str, Any]) -> None:
        try:
            a, b = self.index[entry["src"]], self.index[entry["dst"]]
        except KeyError as exc:
            raise NetemError(f"unknown host {exc.args[0]!r}") from None
        self.links[(a, b)].spec = LinkSpec.from_json(entry["spec"])

    def setup(self) -> None:
        for host in self.hosts:
            self.fds.append(open_tun(host["netns"]))
            ns = host["netns"]
            for argv in (["ip", "-n", ns, "addr", "add", f"{host['address']}/24", "dev", "tun0"],
                         ["ip", "-n", ns, "link", "set", "tun0", "up"],
                         ["ip", "-n", ns, "link", "set", "lo", "up"]):
                subprocess.run(argv, check=True, capture_output=True)

    def _route(self, src: int, packet: bytes, now: float) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # IPv4 only (the kernel's IPv6 router solicitations go nowhere)
        dst = self.by_address.get(packet[16:20])
        if dst is None or dst == src:
            return
        link = self.links[(src, dst)]
        spec = link.spec
        link.stats["packets"] += 1
        link.stats["bytes"] += len(packet)
        if spec.loss and self.rng.random() < spec.loss:
            link.stats["lost"] += 1
            return
        sent = now
        if spec.rate_mbit:
            start = max(now, link.free_at)
            if (start - now) * spec.rate_mbit * 125_000 > spec.queue_bytes:
                link.stats["queue_drops"] += 1
                return
            sent = start + len(packet) * 8 / (spec.rate_mbit * 1e6)
            link.free_at = sent
        delay = spec.delay_ms
        if spec.jitter_ms:
            delay += self.rng.uniform(-spec.jitter_ms, spec.jitter_ms)
        due = max(sent + delay / 1000, link.last_due)
        link.last_due = due
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, self.fds[dst], packet))

    def _control(self, conn: socket.socket) -> bool:
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            return False
        try:
            request = json.loads(data)
            if request.get("op") == "set":
                for entry in request["links"]:
                    self._set(entry)
                reply: dict[str, Any] = {"ok": True}
            elif request.get("op") == "stats":
                reply = {"ok": True, "links": [
                    {"src": self.hosts[a]["name"], "dst": self.hosts[b]["name"],
                     "spec": link.spec.to_json(), **link.stats}
                    for (a, b), link in self.links.items()]}
            else:
                reply = {"ok": False, "error": f"unknown op {request.get('op')!r}"}
        except (ValueError, KeyError, TypeError, NetemError) as exc:
            reply = {"ok": False, "error": str(exc)}
        conn.send(json.dumps(reply).encode())
        return True

    def serve(self, ready: Path) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(self.control_path)
        listener.listen(8)
        conns: list[socket.socket] = []
        ready.write_text(str(os.getpid()))
        tun_of = {fd: i for i, fd in enumerate(self.fds)}
        while True:
            timeout = None
            if self.heap:
                timeout = max(0.0, self.heap[0][0] - time.monotonic())
            waiting: list[Any] = [*self.fds, listener, *conns]
            readable, _, _ = select.select(waiting, [], [], timeout)
            now = time.monotonic()
            for r in readable:
                if r is listener:
                    conns.append(listener.accept()[0])
                elif isinstance(r, socket.socket):
                    if not self._control(r):
                        conns.remove(r)
                        r.close()
                else:
                    assert isinstance(r, int)
                    for _ in range(_READ_BATCH):
                        try:
                            packet = os.read(r, 65535)
                        except BlockingIOError:
                            break
                        self._route(tun_of[r], packet, now)
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                _, _, fd, packet = heapq.heappop(self.heap)
                # the receiving device full or gone: the packet is lost, as on a wire
                with contextlib.suppress(OSError):
                    os.write(fd, packet)


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A packet is due at a precise moment: on a busy machine the forwarder's wake-ups come
    # first (it uses little CPU; a higher priority only makes it punctual).
    with contextlib.suppress(OSError):
        os.nice(-10)
    forwarder = Forwarder(config)
    try:
        forwarder.setup()
    except (NetemError, OSError, subprocess.CalledProcessError) as exc:
        print(f"netem forwarder: {exc}", file=sys.stderr)
        return 2
    forwarder.serve(Path(config["ready"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
