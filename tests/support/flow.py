"""Shared helpers for the flow tests (imported by path: tests run with importlib mode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bazaar.flow.orchestrator import Orchestrator, OrchestratorConfig, Store


class Clock:
    """A clock the test moves by hand, so leases, backoffs and timers need no sleeping."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_engine(tmp_path: Path, url: str | None = None,
                limits: dict[str, int] | None = None) -> tuple[Orchestrator, Clock]:
    store = Store(url or f"sqlite:///{tmp_path / 'flow.db'}")
    store.create_schema()
    clock = Clock()
    return Orchestrator(store, OrchestratorConfig(concurrency_limits=limits or {}),
                        clock=clock), clock


SAGA: dict[str, Any] = {
    "name": "saga",
    "tasks": [
        {"ref": "reserve", "name": "reserve", "input": {"order": "${workflow.input.order}"},
         "retry": {"max_attempts": 2, "backoff": "fixed", "delay_s": 1},
         "compensation": {"name": "release", "input": {"id": "${reserve.output.id}"},
                          "retry": {"max_attempts": 3, "backoff": "fixed", "delay_s": 1}}},
        {"ref": "charge", "name": "charge", "input": {"order": "${workflow.input.order}"},
         "retry": {"max_attempts": 2, "backoff": "fixed", "delay_s": 1},
         "compensation": {"name": "refund", "input": {"id": "${charge.output.id}"}}},
        {"ref": "ship", "name": "ship", "input": {"charge": "${charge.output.id}"},
         "retry": {"max_attempts": 2, "backoff": "fixed", "delay_s": 1}},
        {"ref": "notify", "name": "notify", "input": {"ship": "${ship.output.id}"},
         "retry": {"max_attempts": None, "backoff": "fixed", "delay_s": 1}},
    ],
    "output": {"shipment": "${ship.output.id}"},
}


def work_one(engine: Orchestrator, queue: str, output: dict[str, Any] | None = None,
             worker: str = "w") -> str:
    """Lease one task of ``queue`` and complete it; returns its id."""
    leased = engine.poll(queue, worker)
    assert leased, f"nothing to do on {queue}"
    assert engine.complete(leased[0].id, output or {"id": f"{queue}-1"}, worker_id=worker)
    return leased[0].id
