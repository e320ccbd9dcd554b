"""Run ``bazaar broker serve`` as a real process, for other components' tests and labs."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bazaar.broker._errors import BrokerError


@dataclass
class BrokerProcess:
    """A broker running in a child process."""

    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        """SIGTERM and wait: the broker flushes and closes its files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9: nothing is flushed, for crash tests."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Kafka broker at host:port answers an ApiVersions v0 request."""
    request = struct.pack(">hhih", 18, 0, 1, 5) + b"probe"
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
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
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-broker-{port}.log"
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bazaar.commands.broker", "serve", "--data-dir", str(data_dir),
             "--host", host, "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    broker = BrokerProcess(host, port, data_dir, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"broker exited with {proc.returncode}: {broker.log()[-2000:]}")
        if answers(host, port, timeout=0.5):
            return broker
        time.sleep(0.05)
    broker.kill()
    raise BrokerError(f"broker did not answer on {host}:{port} within {timeout:.0f}s")


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
