"""Running the platform: the frontend and control plane in one process, worker hosts in others.

``serve`` runs the HTTP frontend (uvicorn) and the control port, and keeps ``local_workers``
worker host processes running (a killed one is replaced). ``start_server_process`` and
``spawn_worker_host`` start them as subprocesses, for tests, benchmarks and the lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazaar.functions._access import PlatformAccess
from bazaar.functions._client import FunctionsClient
from bazaar.functions._frontend import LISTENER, build_app
from bazaar.functions._platform import Platform, PlatformConfig
from bazaar.processes import Child
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
                      host_id: str = "") -> Child:
    """Start a worker host process attached to the control socket ``control`` (its own
    session; it dies with its parent; output in ``work_dir``.log). It registers on its own:
    there is nothing to wait for here."""
    work_dir = Path(work_dir)
    return Child(worker_command(control, work_dir, settings or WorkerSettings(), host_id),
                 name=f"worker host {host_id or work_dir.name}",
                 log=work_dir.with_name(f"{work_dir.name}.log"), grace=5.0).spawn()


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
    server = Server(uvicorn_config(build_app(platform, access, limits=limits,
                                                    failed_burst=config.failed_auth_burst), limits,
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
        self.procs: list[Child] = []

    async def supervise(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.count)]
        while True:
            await asyncio.sleep(0.2)
            for i, proc in enumerate(self.procs):
                if not proc.alive:  # killed or crashed: replace it
                    self.procs[i] = self._spawn(i)

    def _spawn(self, index: int) -> Child:
        return spawn_worker_host(self.control, self.work_dir / f"local-{index}", self.settings)

    def stop(self) -> None:
        for proc in self.procs:  # TERM to all first, so they stop in parallel
            proc.send(signal.SIGTERM)
        for proc in self.procs:
            proc.stop()  # then wait for each (KILL after its grace)


@dataclass
class ServerProcess:
    """A platform running as a subprocess (``python -m bazaar.functions serve``)."""

    proc: Child
    data_dir: Path
    url: str
    control: str  # the control plane's unix socket

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """``sig`` (TERM: an orderly stop), then KILL of its whole group after 15 s."""
        if self.proc.alive:
            self.proc.stop(grace=15.0, sig=sig)

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
                         body_timeout_s: float = 30.0, max_connections: int = 1000,
                         failed_auth_burst: int = 30, timeout: float = 60.0) -> ServerProcess:
    """Start the platform in a subprocess on free ports; return once it serves (its
    ``server.json`` names it). Raises ``ChildFailed`` with the log's tail if it exits or is
    not serving within ``timeout``."""
    root = Path(data_dir) / "functions"
    address = root / "server.json"
    address.unlink(missing_ok=True)
    child = Child(
        [sys.executable, "-m", "bazaar.functions", "serve", "--data-dir", str(data_dir),
         "--port", "0", "--workers", str(workers), "--idle-timeout-s", str(idle_timeout_s),
         "--retry-backoff-s", str(retry_backoff_s), "--max-event-age-s", str(max_event_age_s),
         "--worker-memory-mb", str(worker_memory_mb), "--worker-slots", str(worker_slots),
         "--heartbeat-s", str(heartbeat_s), "--header-timeout-s", str(header_timeout_s),
         "--body-timeout-s", str(body_timeout_s), "--max-connections", str(max_connections),
         "--failed-auth-burst", str(failed_auth_burst)],
        name="the function platform", log=root / "server.log",
        ready_timeout=timeout, grace=15.0)
    served: dict[str, Any] = {}

    def serving() -> bool:
        with contextlib.suppress(OSError, ValueError):
            info = json.loads(address.read_text())
            if info["pid"] == child.pid:
                served.update(info)
                return True
        return False

    child.ready_check = serving
    child.start()
    return ServerProcess(child, Path(data_dir), f"http://{served['host']}:{served['port']}",
                         served["control"])
