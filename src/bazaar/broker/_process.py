"""Run ``bazaar broker serve`` as a real process, for other components' tests and labs.

Built on :mod:`bazaar.processes` (a free port, a :class:`~bazaar.processes.Child` with a log
file, readiness, TERM-then-KILL and death with its parent); what is the broker's own is the
readiness check: the process answers a Kafka ApiVersions request.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bazaar.broker._errors import BrokerError
from bazaar.processes import Child, ChildFailed, free_port


@dataclass
class BrokerProcess:
    """A broker running in a child process."""

    host: str
    port: int
    data_dir: Path
    child: Child

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.process

    @property
    def log_path(self) -> Path:
        assert self.child.log is not None
        return self.child.log

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """SIGTERM and wait (KILL after 15 s): the broker flushes and closes its files."""
        self.child.stop(grace=15)

    def kill(self) -> None:
        """kill -9: nothing is flushed, for crash tests."""
        if self.child.alive:
            self.child.kill()

    def log(self) -> str:
        return self.child.log_text()


def answers(host: str, port: int, timeout: float = 1.0, *, tls: bool = False) -> bool:
    """Whether a Kafka broker at host:port answers an ApiVersions v0 request (over TLS
    without checking the certificate, with ``tls``: a liveness probe, not a client)."""
    request = struct.pack(">hhih", 18, 0, 1, 5) + b"probe"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            s = raw
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                s = context.wrap_socket(raw, server_hostname=host)
            s.sendall(struct.pack(">i", len(request)) + request)
            head = s.recv(8)
            return len(head) == 8 and struct.unpack(">ii", head)[1] == 1
    except OSError:
        return False


def start_subprocess(data_dir: Path, port: int | None = None, *, host: str = "127.0.0.1",
                     args: tuple[str, ...] = (), timeout: float = 30.0) -> BrokerProcess:
    """Start ``bazaar broker serve`` and return once it answers ApiVersions.

    Runs ``python -m bazaar.commands.broker serve`` (the same command without loading the
    other command groups), so a broken neighbour cannot stop the broker from starting.
    """
    port = port or free_port(host)
    tls = "--tls-cert" in args
    data_dir.mkdir(parents=True, exist_ok=True)
    child = Child(
        [sys.executable, "-m", "bazaar.commands.broker", "serve", "--data-dir", str(data_dir),
         "--host", host, "--port", str(port), *args],
        name=f"broker:{port}", env={**os.environ, "PYTHONUNBUFFERED": "1"},
        log=data_dir.parent / f"{data_dir.name}-broker-{port}.log",
        ready=lambda: answers(host, port, timeout=0.5, tls=tls), ready_timeout=timeout, grace=15)
    try:
        child.start()
    except ChildFailed as exc:
        raise BrokerError(str(exc)) from exc
    return BrokerProcess(host, port, data_dir, child)


@contextlib.contextmanager
def run_subprocess(data_dir: Path | None = None, port: int | None = None, *,
                   host: str = "127.0.0.1", args: tuple[str, ...] = ()
                   ) -> Iterator[BrokerProcess]:
    """A broker process for the ``with`` block: stopped (SIGTERM) on exit.

    ``data_dir`` defaults to a temporary directory removed afterwards; ``args`` are extra
    ``bazaar broker serve`` options, e.g. ``("--flush", "batch")``.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="bazaar-broker-"))) / "data"
        broker = start_subprocess(data_dir, port, host=host, args=args)
        try:
            yield broker
        finally:
            broker.stop()
