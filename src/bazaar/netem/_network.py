"""Hosts on an emulated network: one network namespace each, joined by the forwarder."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bazaar.netem._spec import LinkSpec, NetemError
from bazaar.processes import Child, ChildFailed

_NAME = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_OURS = re.compile(r"^bz(\d+)n\d+-")
_counter = itertools.count(1)


def available() -> str | None:
    """None when this machine can run an emulated network, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    return None


def _ip(*argv: str) -> None:
    result = subprocess.run(["ip", *argv], capture_output=True, text=True)
    if result.returncode != 0:
        raise NetemError(f"ip {' '.join(argv)}: {result.stderr.strip()}")


def sweep_stale() -> list[str]:
    """Delete namespaces an earlier :class:`Network` left behind (its process died by
    kill -9); return their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir("/run/netns"):
            m = _OURS.match(name)
            if m and not Path(f"/proc/{m.group(1)}").exists():
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
                removed.append(name)
    return removed


class Network:
    """``hosts`` in their own network namespaces, addresses ``10.77.0.1…`` in order, every
    packet between two of them carried by a userspace forwarder that applies ``default``
    (each direction) unless :meth:`set_link` says otherwise. Processes run on a host with
    ``argv(host, [...])``. The addresses exist only inside the namespaces, so networks
    never clash with each other or with the machine's own.

        with Network(["client", "server"], work, default=LinkSpec(delay_ms=10)) as net:
            Child(net.argv("server", [...]))
    """

    def __init__(self, hosts: Sequence[str], work_dir: Path, *,
                 default: LinkSpec | None = None,
                 links: Mapping[tuple[str, str], LinkSpec] | None = None,
                 seed: int | None = None) -> None:
        if len(hosts) < 2 or len(set(hosts)) != len(hosts):
            raise NetemError("a network needs at least two distinct hosts")
        for h in hosts:
            if not _NAME.match(h):
                raise NetemError(f"host name {h!r}: 1-8 lowercase letters and digits")
        if len(hosts) > 200:
            raise NetemError("at most 200 hosts")
        self.hosts = list(hosts)
        self.work_dir = work_dir
        self.default = default or LinkSpec()
        self._links = dict(links or {})
        self.seed = seed
        tag = f"bz{os.getpid()}n{next(_counter)}"
        self._netns = {h: f"{tag}-{h}" for h in self.hosts}
        self._child: Child | None = None
        self._made: list[str] = []

    # -- naming ------------------------------------------------------------------------------
    def address(self, host: str) -> str:
        return f"10.77.0.{self.hosts.index(host) + 1}"

    def netns(self, host: str) -> str:
        return self._netns[host]

    def argv(self, host: str, argv: Sequence[object]) -> list[str]:
        """``argv`` run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self._netns[host], *map(str, argv)]

    @property
    def _control(self) -> Path:
        return self.work_dir / "netem-control.sock"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Network:
        why = available()
        if why:
            raise NetemError(f"cannot emulate a network here: {why}")
        sweep_stale()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        ready = self.work_dir / "netem-ready"
        ready.unlink(missing_ok=True)
        self._control.unlink(missing_ok=True)
        try:
            for h in self.hosts:
                _ip("netns", "add", self._netns[h])
                self._made.append(self._netns[h])
            config = {
                "hosts": [{"name": h, "netns": self._netns[h], "address": self.address(h)}
                          for h in self.hosts],
                "default": self.default.to_json(),
                "links": [self._entry(a, b, s) for (a, b), s in self._links.items()],
                "control": str(self._control), "ready": str(ready), "seed": self.seed,
            }
            cfg = self.work_dir / "netem.json"
            cfg.write_text(json.dumps(config))
            self._child = Child([sys.executable, "-m", "bazaar.netem._forwarder", str(cfg)],
                                name="netem-forwarder", log=self.work_dir / "netem.log",
                                ready=ready.exists, ready_timeout=20)
            self._child.start()
        except (NetemError, ChildFailed) as exc:
            self.stop()
            raise NetemError(f"the emulated network did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop(grace=5)
            self._child = None
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._made.clear()

    def __enter__(self) -> Network:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- settings ----------------------------------------------------------------------------
    def _entry(self, a: str, b: str, spec: LinkSpec) -> dict[str, Any]:
        for h in (a, b):
            if h not in self._netns:
                raise NetemError(f"unknown host {h!r}; hosts: {', '.join(self.hosts)}")
        return {"src": a, "dst": b, "spec": spec.to_json()}

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._child is None:
            raise NetemError("the network is not running")
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(5)
            s.connect(str(self._control))
            s.send(json.dumps(request).encode())
            reply: dict[str, Any] = json.loads(s.recv(1 << 20))
        if not reply.get("ok"):
            raise NetemError(reply.get("error", "the forwarder refused"))
        return reply

    def set_link(self, a: str, b: str, spec: LinkSpec,
                 reverse: LinkSpec | None = None) -> None:
        """Packets ``a → b`` get ``spec`` from now on, and ``b → a`` get ``reverse``
        (the same by default). Takes effect for packets not yet queued."""
        entries = [self._entry(a, b, spec), self._entry(b, a, reverse or spec)]
        if self._child is None:
            self._links[(a, b)], self._links[(b, a)] = spec, reverse or spec
            return
        self._ask({"op": "set", "links": entries})

    def set_all(self, spec: LinkSpec) -> None:
        """Every directed pair gets ``spec``."""
        self._ask({"op": "set", "links": [self._entry(a, b, spec) for a in self.hosts
                                           for b in self.hosts if a != b]})

    def stats(self) -> list[dict[str, Any]]:
        """Per direction: packets and bytes seen, ``lost`` (dropped as loss) and
        ``queue_drops`` (dropped by a full rate queue)."""
        links: list[dict[str, Any]] = self._ask({"op": "stats"})["links"]
        return links
