"""The orchestrator as a real process (``python -m bazaar.flow.orchestrator``) on a SQLite file.

Built on :class:`bazaar.processes.Child`: ready when ``/api/health`` answers, stopped with TERM
then KILL, and restartable on the same port and database after :meth:`kill9` (the crash tests).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bazaar.processes import Child, free_port


class OrchestratorProcess:
    def __init__(self, db: Path, *, log: Path | None = None, port: int | None = None) -> None:
        self.db, self.log = db, log
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child(
            [sys.executable, "-m", "bazaar.flow.orchestrator", "--db", f"sqlite:///{db}",
             "--port", str(self.port)],
            name="orchestrator", log=log, ready_url=f"{self.url}/api/health")

    def start(self) -> OrchestratorProcess:
        """Start (or restart after a kill) and wait until it answers."""
        self.child.start()
        return self

    def register(self, definitions: Iterable[dict[str, Any]]) -> None:
        for definition in definitions:
            httpx.post(f"{self.url}/api/definitions", json=definition).raise_for_status()

    def kill9(self) -> None:
        """kill -9 and reap: leases out, results in flight."""
        self.child.kill()

    def stop(self) -> None:
        if self.child.alive:
            self.child.stop()

    def __enter__(self) -> OrchestratorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
