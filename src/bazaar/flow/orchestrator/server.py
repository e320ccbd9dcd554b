"""Build and run the orchestrator service: store → engine → service → HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette

from bazaar.flow.orchestrator.engine import Orchestrator, OrchestratorConfig
from bazaar.flow.orchestrator.events import KafkaEvents
from bazaar.flow.orchestrator.routes import create_app
from bazaar.flow.orchestrator.service import ApiConfig, Service
from bazaar.flow.orchestrator.store import Store
from bazaar.flow.orchestrator.system import EventSink
from bazaar.processes import DirLock
from bazaar.storage import sqlite_path


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``bazaar flow serve`` needs. ``db_threads`` None: 0 for SQLite (the loop
    is the single writer), 4 for PostgreSQL."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8300
    concurrency_limits: Mapping[str, int] = field(default_factory=dict)
    db_threads: int | None = None
    sqlite_synchronous: str = "NORMAL"
    definitions: tuple[Path, ...] = ()
    log_level: str = "warning"
    sweep_interval_s: float = 0.5
    #: EVENT tasks: the log's host:port, and the topics EVENT waits listen on.
    kafka_bootstrap: str | None = None
    event_topics: tuple[str, ...] = ()


def build(config: ServerConfig, *, event_sink: EventSink | None = None
          ) -> tuple[Service, Starlette]:
    """The service and its app, with the schema created and ``definitions`` registered."""
    store = Store(config.database_url, sqlite_synchronous=config.sqlite_synchronous)
    store.create_schema()
    engine = Orchestrator(store, OrchestratorConfig(
        concurrency_limits=dict(config.concurrency_limits)))
    for path in config.definitions:
        engine.register(path.read_bytes())
    threads = config.db_threads if config.db_threads is not None else (
        0 if store.is_sqlite else 4)
    events = (KafkaEvents(config.kafka_bootstrap, config.event_topics)
              if config.kafka_bootstrap else None)
    service = Service(engine, ApiConfig(db_threads=threads,
                                        sweep_interval_s=config.sweep_interval_s),
                      event_sink=event_sink, events=events)
    return service, create_app(service)


def store_lock(url: str) -> DirLock | None:
    """One orchestrator per SQLite store: a lock beside the file (``flow.db.lock``) holding
    the owner's pid; :class:`~bazaar.processes.DirLocked` names the holder. A server
    database (PostgreSQL) is shared by design: None."""
    path = sqlite_path(url)
    if path is None:
        return None
    return DirLock(path.parent, f"the orchestrator database {path.name} in", f"{path.name}.lock")


def serve(config: ServerConfig, *, event_sink: EventSink | None = None) -> None:
    """Run the orchestrator until interrupted; ``DirLocked`` if another one owns the store."""
    import uvicorn

    with contextlib.ExitStack() as stack:
        lock = store_lock(config.database_url)
        if lock is not None:
            stack.enter_context(lock)
        _, app = build(config, event_sink=event_sink)
        # Long-polls in flight are cut after 2 s on shutdown: a task handed out but never
        # delivered is leased, and its lapsed lease reschedules it.
        # log_config=None: keep the process's logging set-up (bazaar.telemetry's JSON lines).
        uvicorn.run(app, host=config.host, port=config.port, log_level=config.log_level,
                    access_log=False, lifespan="on", timeout_graceful_shutdown=2,
                    log_config=None)
