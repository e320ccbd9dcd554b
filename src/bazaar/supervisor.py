"""The processes ``bazaar up`` runs beside the API: the embedded broker, the saga's
orchestrator and the checkout services, each a real child process with its own log.

Children get the same settings as the parent through ``BAZAAR_*`` variables, are started in
dependency order (each waits until the one before answers), are watched while the shop runs,
and are stopped in reverse order on exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bazaar.config import Settings
from bazaar.processes import Child, ChildFailed, free_port, port_free

_log = logging.getLogger("bazaar.supervisor")


class ServiceFailed(RuntimeError):
    """A child process exited or did not become ready, or its port is taken."""


@dataclass(frozen=True)
class ServiceSpec:
    """One child: a name for logs, its argv, and the TCP port that says it is ready."""

    name: str
    argv: list[str]
    ready_port: int | None = None
    ready_timeout_s: float = 30.0
    #: Where it answers, for ``GET /`` (None: it listens nowhere, e.g. a saga worker).
    url: str | None = None
    #: Its Prometheus metrics, if it serves them.
    metrics_url: str | None = None
    #: Other ports it binds (checked before anything starts), e.g. the broker's metrics.
    other_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class RestartPolicy:
    """Restart a dead child after ``backoff_s``, doubling per consecutive crash up to
    ``max_backoff_s``; after ``limit`` restarts within ``window_s`` seconds, give up on it (a
    crash loop). A child that stays up for ``window_s`` starts again from ``backoff_s``."""

    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    limit: int = 5
    window_s: float = 60.0


#: A service's state as ``/health`` reports it.
State = Literal["starting", "up", "restarting", "failed", "stopped"]


@dataclass
class _Service:
    spec: ServiceSpec
    child: Child
    state: State = "starting"
    restarts: deque[float] = field(default_factory=deque)  # when each restart happened
    delay_s: float = 0.0
    restart_at: float = 0.0
    up_since: float = 0.0
    last_exit: int | None = None


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


def busy_ports(ports: dict[str, tuple[str, int]]) -> list[str]:
    """Which of ``{what: (host, port)}`` cannot be bound now, as ``"what host:port"``."""
    return [f"{what} {host}:{port}" for what, (host, port) in ports.items()
            if not port_free(port, host)]


@dataclass
class Supervisor:
    """Starts children in order, restarts the ones that die (with backoff, up to a
    crash-loop limit), reports their state, stops them in reverse order."""

    settings: Settings
    log_dir: Path
    echo: Callable[[str], None] = print
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    _services: list[_Service] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def check_ports(self, specs: list[ServiceSpec]) -> None:
        """Refuse to start anything if a service's port is taken, naming every such port."""
        wanted = {s.name: ("127.0.0.1", s.ready_port) for s in specs if s.ready_port}
        wanted.update({f"{s.name} ({port})": ("127.0.0.1", port) for s in specs
                       for port in s.other_ports if port})
        taken = busy_ports(wanted)
        if taken:
            raise ServiceFailed(
                f"port in use: {', '.join(taken)}; set it to another number or 0 "
                "(--broker-port/BAZAAR_BROKER_PORT, --flow-port/BAZAAR_FLOW_PORT, "
                "--dashboard-port/BAZAAR_DASHBOARD_PORT), point BAZAAR_KAFKA_BOOTSTRAP at a "
                "running log, or run with --no-services (or --no-pipeline)")

    def start(self, spec: ServiceSpec) -> None:
        """Start ``spec`` and wait until it listens; :class:`ServiceFailed` says why not."""
        self.check_ports([spec])
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env.update(settings_env(self.settings))
        env["PYTHONUNBUFFERED"] = "1"
        child = Child(spec.argv, name=spec.name, env=env, log=self.log_dir / f"{spec.name}.log",
                      ready_port=spec.ready_port, ready_timeout=spec.ready_timeout_s)
        service = _Service(spec, child)
        with self._lock:
            self._services.append(service)
        try:
            child.start()
        except ChildFailed as exc:
            service.state = "failed"
            raise ServiceFailed(str(exc)) from exc
        service.state, service.up_since = "up", time.monotonic()

    # -- watching ----------------------------------------------------------------------------
    def watch(self, interval_s: float = 0.2) -> None:
        """Watch the children from a thread of their own until :meth:`stop`.

        Restarted children are started by this thread, which lives as long as the supervisor
        (a child started with die-with-parent dies with the thread that started it).
        """
        def loop() -> None:
            while not self._stopping.wait(interval_s):
                self.tick()

        self._thread = threading.Thread(target=loop, name="bazaar-supervisor", daemon=True)
        self._thread.start()

    def tick(self, now: float | None = None) -> None:
        """One look at every child: notice deaths, schedule and perform restarts."""
        with self._lock:
            services = list(self._services)
        for service in services:
            if self._stopping.is_set():
                return
            self._tick(service, time.monotonic() if now is None else now)

    def _tick(self, service: _Service, now: float) -> None:
        child, name, policy = service.child, service.spec.name, self.policy
        if service.state in ("up", "starting") and not child.alive:
            service.last_exit = child.returncode
            while service.restarts and now - service.restarts[0] > policy.window_s:
                service.restarts.popleft()
            if len(service.restarts) >= policy.limit:
                service.state = "failed"
                self._say(service, f"error: {name} exited with {service.last_exit} and crashed "
                                   f"{len(service.restarts) + 1} times in "
                                   f"{policy.window_s:g}s; giving up on it (log {child.log})")
                return
            stayed_up = service.state == "up" and now - service.up_since >= policy.window_s
            service.delay_s = (policy.backoff_s if stayed_up or not service.delay_s
                               else min(service.delay_s * 2, policy.max_backoff_s))
            service.state, service.restart_at = "restarting", now + service.delay_s
            self._say(service, f"warning: {name} exited with {service.last_exit}; restarting "
                               f"in {service.delay_s:g}s (restart {len(service.restarts) + 1} "
                               f"of at most {policy.limit} in {policy.window_s:g}s; log "
                               f"{child.log})")
        elif service.state == "restarting" and now >= service.restart_at:
            service.restarts.append(now)
            if service.spec.ready_port is not None and not port_free(service.spec.ready_port):
                return self._retry_later(service, f"port {service.spec.ready_port} still busy")
            try:
                child.spawn()
            except OSError as exc:
                return self._retry_later(service, str(exc))
            service.state = "starting"
        elif service.state == "starting" and child.is_ready():
            service.state, service.up_since = "up", now
            self._say(service, f"{name} is up again (pid {child.pid})")

    def _retry_later(self, service: _Service, why: str) -> None:
        service.delay_s = min(service.delay_s * 2, self.policy.max_backoff_s)
        service.state = "starting"  # counts as a crash on the next tick
        self._say(service, f"warning: {service.spec.name} could not restart ({why})")

    def _say(self, service: _Service, line: str) -> None:
        """Tell the terminal, the supervisor's logger and the child's own log."""
        self.echo(line)
        _log.warning(line)
        log = service.child.log
        if log is not None:
            with contextlib.suppress(OSError), log.open("a") as f:
                f.write(f"--- supervisor {time.strftime('%Y-%m-%dT%H:%M:%S')}: {line}\n")

    # -- reporting and stopping --------------------------------------------------------------
    def states(self) -> dict[str, State]:
        """Each service's state, in start order (``up`` is the only healthy one)."""
        with self._lock:
            return {s.spec.name: s.state for s in self._services}

    def urls(self) -> dict[str, str]:
        """Where the services that listen answer."""
        with self._lock:
            return {s.spec.name: s.spec.url for s in self._services if s.spec.url}

    def metrics_urls(self) -> dict[str, str]:
        """Where the services that serve Prometheus metrics serve them."""
        with self._lock:
            return {s.spec.name: s.spec.metrics_url for s in self._services
                    if s.spec.metrics_url}

    def down(self) -> list[str]:
        """The services that are not up right now."""
        return [name for name, state in self.states().items() if state != "up"]

    def pids(self) -> dict[str, int]:
        with self._lock:
            return {s.spec.name: s.child.pid for s in self._services if s.child.alive}

    def stop(self, timeout_s: float = 15.0) -> None:
        """TERM every child in reverse start order, then KILL what is left after the grace."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            services = list(reversed(self._services))
        for service in services:
            service.child.send(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for service in services:
            if service.child.alive:
                service.child.stop(grace=max(0.1, deadline - time.monotonic()))
            service.state = "stopped"
        with self._lock:
            self._services.clear()


def with_service_ports(settings: Settings) -> Settings:
    """Settle port 0 (pick a free one) for the broker, its metrics and the orchestrator."""
    update: dict[str, object] = {}
    if settings.kafka_bootstrap is None and settings.broker_port == 0:
        update["broker_port"] = free_port()
    if settings.kafka_bootstrap is None and settings.broker_metrics_port == 0:
        update["broker_metrics_port"] = free_port()
    if settings.pipeline and settings.dashboard_port == 0:
        update["dashboard_port"] = free_port()
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
                       "--port", str(settings.broker_port),
                       "--metrics-port", str(settings.broker_metrics_port)],
            ready_port=settings.broker_port,
            url=f"kafka://127.0.0.1:{settings.broker_port}",
            metrics_url=f"http://127.0.0.1:{settings.broker_metrics_port}/metrics",
            other_ports=(settings.broker_metrics_port,)))
    saga_dir = str(data / "saga")
    if settings.checkout == "orchestration":
        specs.append(ServiceSpec(
            "orchestrator", [py, "-m", "bazaar.cli", "flow", "serve", "--host", "127.0.0.1",
                             "--port", str(settings.flow_port)],
            ready_port=settings.flow_port, url=settings.flow_url,
            metrics_url=f"{settings.flow_url}/metrics"))
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
    # The shop's outbox (orders, stock, sign-ups, views) to shop.events.
    specs.append(ServiceSpec("shop-events", [py, "-m", "bazaar.cli", "shop", "relay"]))
    if settings.pipeline:  # shop.events → the lake (exactly once) → the warehouse → charts
        pipeline = ["--bootstrap", bootstrap, "--dir", str(data / "pipeline")]
        # A killed ingester's partitions pass to its restart when its session ends: 6 s.
        specs.append(ServiceSpec("pipeline-ingest", [py, "-m", "bazaar.cli", "pipeline",
                                                     "ingest", *pipeline,
                                                     "--session-timeout-ms", "6000"]))
        port = settings.dashboard_port
        specs.append(ServiceSpec(
            "pipeline-dashboard", [py, "-m", "bazaar.cli", "pipeline", "dashboard", *pipeline,
                                   "--port", str(port), "--refresh-s", "2"],
            ready_port=port, url=f"http://127.0.0.1:{port}/dashboard"))
    return specs


@contextlib.contextmanager
def running_services(settings: Settings, echo: Callable[[str], None] = print
                     ) -> Iterator[Supervisor]:
    """Start every service for ``settings`` (already port-settled), stop them on exit."""
    supervisor = Supervisor(settings, settings.data_dir / "logs", echo)
    specs = service_specs(settings)
    supervisor.check_ports(specs)
    try:
        for spec in specs:
            supervisor.start(spec)
        supervisor.watch()
        yield supervisor
    finally:
        supervisor.stop()
