"""Running the platform: the frontend and control plane in one process, worker hosts in others.

``serve`` runs the HTTP frontend (uvicorn) and the control port, and keeps ``local_workers``
worker host processes running (a killed one is replaced). ``start_server_process`` and
``spawn_worker_host`` start them as subprocesses, for tests, benchmarks and the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bazaar.functions._access import PlatformAccess
from bazaar.functions._client import FunctionsClient
from bazaar.functions._frontend import LISTENER, build_app
from bazaar.functions._platform import Platform, PlatformConfig
from bazaar.web import Limits, uvicorn_config


@dataclass(frozen=True)
class WorkerSettings:
    """What each local worker host offers."""

    memory_mb: int = 2048
    slots: int = 64
    heartbeat_s: float = 1.0


def worker_command(control: str | Path, work_dir: Path, settings: WorkerSettings,
                   host_id: str = "") -> list[str]:
    command = [sys.executable, "-m", "bazaar.functions", "worker",
               "--control", str(control), "--work-dir", str(work_dir),
               "--memory-mb", str(settings.memory_mb), "--slots", str(settings.slots),
               "--heartbeat-s", str(settings.heartbeat_s)]
    return [*command, "--host-id", host_id] if host_id else command


def spawn_worker_host(control: str | Path, work_dir: Path,
                      settings: WorkerSettings | None = None,
                      host_id: str = "") -> subprocess.Popen[bytes]:
    """Start a worker host process attached to the control socket ``control``."""
    return subprocess.Popen(worker_command(control, work_dir, settings or WorkerSettings(),
                                           host_id), start_new_session=True)


async def serve(config: PlatformConfig, *, local_workers: int = 1,
                worker: WorkerSettings | None = None, limits: Limits = LISTENER) -> None:
    """Serve the frontend and control plane until SIGINT/SIGTERM. ``limits`` bound the
    frontend's listener (request heads, bodies, idle and slow clients, connections)."""
    import uvicorn

    from bazaar.processes import DirLock

    # One platform per data directory: a second one fails naming the first one's pid.
    lock = DirLock(config.root, "the functions data directory").acquire()
    platform = Platform(config)
    await platform.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.listen(2048)  # connections queue from now on: the address file may be written early
    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after its shutdown, which would kill us before
            # the worker hosts are stopped and the address file removed: only capture them.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            original = {sig: signal.signal(sig, self.handle_exit)
                        for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    access = PlatformAccess(config.root)
    server = Server(uvicorn_config(build_app(platform, access, limits=limits), limits,
                                   log_level="warning"))
    workers = _LocalWorkers(platform.control_address, config.root / "hosts",
                            worker or WorkerSettings(), local_workers)
    supervising = asyncio.create_task(workers.supervise())
    try:
        if local_workers:
            await platform.manager.wait_for_hosts(local_workers, timeout=60)
        platform.write_address_file(sock.getsockname()[1])
        await server.serve(sockets=[sock])
    finally:
        supervising.cancel()
        workers.stop()
        await platform.stop()
        access.close()
        (config.root / "server.json").unlink(missing_ok=True)
        lock.release()


class _LocalWorkers:
    def __init__(self, control: str, work_dir: Path, settings: WorkerSettings,
                 count: int) -> None:
        self.control, self.work_dir, self.settings, self.count = (control, work_dir, settings,
                                                                  count)
        self.procs: list[subprocess.Popen[bytes]] = []

    async def supervise(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.count)]
        while True:
            await asyncio.sleep(0.2)
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:  # killed or crashed: replace it
                    self.procs[i] = self._spawn(i)

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        return spawn_worker_host(self.control, self.work_dir / f"local-{index}", self.settings)

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class ServerProcess:
    """A platform running as a subprocess (``python -m bazaar.functions serve``)."""

    proc: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    control: str  # the control plane's unix socket

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def token(self) -> str:
        """A fresh Bearer token for this platform (minted from its data dir's keyring)."""
        access = PlatformAccess(Path(self.data_dir).resolve() / "functions")
        try:
            return access.issue()
        finally:
            access.close()

    def client(self, timeout: float = 60.0) -> FunctionsClient:
        """An authenticated client of this platform's frontend."""
        return FunctionsClient(self.url, token=self.token, timeout=timeout)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server_process(data_dir: Path, *, workers: int = 1, idle_timeout_s: float = 300.0,
                         retry_backoff_s: float = 1.0, max_event_age_s: float = 21600.0,
                         worker_memory_mb: int = 2048, worker_slots: int = 64,
                         heartbeat_s: float = 1.0, header_timeout_s: float = 10.0,
                         body_timeout_s: float = 30.0, timeout: float = 60.0) -> ServerProcess:
    """Start the platform in a subprocess on free ports; return once it serves."""
    address = Path(data_dir) / "functions" / "server.json"
    address.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bazaar.functions", "serve", "--data-dir", str(data_dir),
         "--port", "0", "--workers", str(workers), "--idle-timeout-s", str(idle_timeout_s),
         "--retry-backoff-s", str(retry_backoff_s), "--max-event-age-s", str(max_event_age_s),
         "--worker-memory-mb", str(worker_memory_mb), "--worker-slots", str(worker_slots),
         "--heartbeat-s", str(heartbeat_s), "--header-timeout-s", str(header_timeout_s),
         "--body-timeout-s", str(body_timeout_s)], start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the function platform exited with {proc.returncode}")
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(address.read_text())
            if info["pid"] == proc.pid:
                return ServerProcess(proc, Path(data_dir), f"http://{info['host']}:{info['port']}",
                                     info["control"])
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("the function platform did not start in time")
