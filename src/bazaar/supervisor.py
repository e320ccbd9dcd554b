"""The processes ``bazaar up`` runs beside the API: the embedded broker, the saga's
orchestrator and the checkout services, each a real child process with its own log.

Children get the same settings as the parent through ``BAZAAR_*`` variables, are started in
dependency order (each waits until the one before answers), are watched while the shop runs,
and are stopped in reverse order on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bazaar.config import Settings


class ServiceFailed(RuntimeError):
    """A child process exited or did not become ready."""


@dataclass(frozen=True)
class ServiceSpec:
    """One child: a name for logs, its argv, and the TCP port that says it is ready."""

    name: str
    argv: list[str]
    ready_port: int | None = None
    ready_timeout_s: float = 30.0


@dataclass
class _Running:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log: Path


def settings_env(settings: Settings) -> dict[str, str]:
    """``BAZAAR_*`` variables that rebuild ``settings`` in a child process."""
    import json

    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if name == "master_key" and settings.master_key is not None:
            value = settings.master_key.get_secret_value()
        if isinstance(value, list | dict | bool):
            value = json.dumps(value)
        env[f"BAZAAR_{name.upper()}"] = str(value)
    return env


def _own_session_dying_with_parent() -> None:  # pragma: no cover - runs in the child
    """In the child before exec: its own session (Ctrl-C reaches only the parent, which stops
    children in order), and SIGTERM when the parent dies, even by kill -9 (Linux)."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.3):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Supervisor:
    """Starts children in order, watches them, stops them in reverse order."""

    settings: Settings
    log_dir: Path
    echo: Callable[[str], None] = print
    _running: list[_Running] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def start(self, spec: ServiceSpec) -> None:
        if spec.ready_port is not None and _answers(spec.ready_port):
            raise ServiceFailed(
                f"{spec.name}: port {spec.ready_port} is already in use; set its port to "
                "another number or 0 (BAZAAR_BROKER_PORT, BAZAAR_FLOW_PORT), point "
                "BAZAAR_KAFKA_BOOTSTRAP at a running log, or run with --no-services")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{spec.name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env.update(settings_env(self.settings))
        with log.open("ab") as out:
            process = subprocess.Popen(spec.argv, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env,
                                       preexec_fn=_own_session_dying_with_parent)
        running = _Running(spec, process, log)
        self._running.append(running)
        deadline = time.monotonic() + spec.ready_timeout_s
        while spec.ready_port is not None and not _answers(spec.ready_port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:]
                why = (f"exited with {process.returncode}" if process.poll() is not None
                       else f"did not listen on port {spec.ready_port} in "
                            f"{spec.ready_timeout_s:.0f}s")
                raise ServiceFailed(f"{spec.name} {why} (log {log}):\n{tail}")
            time.sleep(0.05)
        if process.poll() is not None:
            raise ServiceFailed(f"{spec.name} exited with {process.returncode} (log {log})")

    def watch(self, interval_s: float = 1.0) -> None:
        """Report, once each, children that die while the shop runs."""
        def loop() -> None:
            reported: set[str] = set()
            while not self._stopping.wait(interval_s):
                for r in self._running:
                    code = r.process.poll()
                    if code is not None and r.spec.name not in reported:
                        reported.add(r.spec.name)
                        self.echo(f"warning: {r.spec.name} exited with {code} (log {r.log})")

        threading.Thread(target=loop, name="bazaar-supervisor", daemon=True).start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._stopping.set()
        for r in reversed(self._running):
            if r.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    r.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for r in reversed(self._running):
            try:
                r.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                r.process.kill()
                r.process.wait()
        self._running.clear()

    def pids(self) -> dict[str, int]:
        return {r.spec.name: r.process.pid for r in self._running}


def with_service_ports(settings: Settings) -> Settings:
    """Settle port 0 (pick a free one) for the broker and the orchestrator."""
    update: dict[str, object] = {}
    if settings.kafka_bootstrap is None and settings.broker_port == 0:
        update["broker_port"] = free_port()
    if settings.flow_port == 0:
        port = free_port()
        update["flow_port"] = port
        update["flow_url"] = f"http://127.0.0.1:{port}"
    return settings.model_copy(update=update) if update else settings


def service_specs(settings: Settings) -> list[ServiceSpec]:
    """What runs beside the API, in start order, for the configured checkout mode."""
    py = sys.executable
    data = settings.data_dir.resolve()
    specs: list[ServiceSpec] = []
    bootstrap = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port}"
    if settings.kafka_bootstrap is None:
        specs.append(ServiceSpec(
            "broker", [py, "-m", "bazaar.commands.broker", "serve", "--data-dir",
                       str(data / "broker"), "--host", "127.0.0.1",
                       "--port", str(settings.broker_port)],
            ready_port=settings.broker_port))
    saga_dir = str(data / "saga")
    if settings.checkout == "orchestration":
        specs.append(ServiceSpec(
            "orchestrator", [py, "-m", "bazaar.cli", "flow", "serve", "--host", "127.0.0.1",
                             "--port", str(settings.flow_port)],
            ready_port=settings.flow_port))
        way = ["orchestrated", "--flow-url", settings.flow_url]
    else:
        way = ["choreography", "--bootstrap", bootstrap]
    # Payment, shipping and notification are services of their own; the shop's process
    # ("saga-inventory") serves the shop's steps: its stock and its order record.
    for name, roles in (("payment", ["payment"]), ("shipping", ["shipping"]),
                        ("notification", ["notification"])):
        argv = [py, "-m", "bazaar.flow.checkout", way[0], *way[1:], "--dir", saga_dir]
        for role in roles:
            argv += ["--role", role]
        specs.append(ServiceSpec(f"saga-{name}", argv))
    specs.append(ServiceSpec("saga-inventory", [py, "-m", "bazaar.cli", "flow",
                                                "shop-inventory"]))
    return specs


@contextlib.contextmanager
def running_services(settings: Settings, echo: Callable[[str], None] = print
                     ) -> Iterator[Supervisor]:
    """Start every service for ``settings`` (already port-settled), stop them on exit."""
    supervisor = Supervisor(settings, settings.data_dir / "logs", echo)
    try:
        for spec in service_specs(settings):
            supervisor.start(spec)
        supervisor.watch()
        yield supervisor
    finally:
        supervisor.stop()
