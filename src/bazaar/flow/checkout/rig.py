"""A running checkout, either way, as real processes: for the lab and benchmarks.

Orchestration: an orchestrator process and three service processes (payment; shipping;
inventory + notification + orders) long-polling it. Choreography: a broker process and the
same three service processes consuming and relaying events. The rig places checkouts, reads
every service's books, and can kill and restart any piece.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
import sqlalchemy as sa

from bazaar.flow.checkout import inventory, orchestrated
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Databases, Services
from bazaar.processes import Child, NotYet, eventually, free_port
from bazaar.storage import make_engine

Mode = Literal["orchestration", "choreography"]
GROUPS = {"payment": ["payment"], "shipping": ["shipping"],
          "core": ["inventory", "notification", "orders"]}


def _fault_args(f: Faults) -> list[str]:
    pairs = {"--decline-rate": f.decline_rate, "--timeout-rate": f.timeout_rate,
             "--charged-on-timeout": f.charged_on_timeout,
             "--provider-latency": f.provider_latency_s, "--ship-fail-rate": f.ship_fail_rate,
             "--ship-flaky-rate": f.ship_flaky_rate, "--notify-flaky-rate": f.notify_flaky_rate}
    out = [item for k, v in pairs.items() for item in (k, str(v))]
    return out + (["--seed", str(f.seed)] if f.seed is not None else [])


@dataclass
class Rig:
    """One checkout deployment under ``work``; use as a context manager."""

    mode: Mode
    work: Path
    faults: Faults = field(default_factory=Faults)
    stock: dict[str, int] = field(default_factory=lambda: {"mug": 10_000, "tee": 10_000})
    procs: dict[str, Child] = field(default_factory=dict)
    port: int = 0

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self.dbs = Databases.under(self.work / "services")
        self.services = Services.open(self.dbs)
        with self.services.inventory.begin() as conn:
            inventory.add_stock(conn, self.stock)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(timeout=10)

    # --- processes ---------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], **ready: Any) -> None:
        child = Child(argv, name=f"{self.mode} {name}", log=self.work / f"{name}.log", **ready)
        self.procs[name] = child.start()

    def start_hub(self) -> None:
        """The orchestrator, or the broker: the piece everything talks through."""
        if self.mode == "orchestration":
            self._start("hub", [sys.executable, "-m", "bazaar.flow.orchestrator", "--db",
                                f"sqlite:///{self.work / 'flow.db'}", "--port", str(self.port)],
                        ready_url=f"{self.url}/api/health")
            for definition in orchestrated.DEFINITIONS:
                httpx.post(f"{self.url}/api/definitions", json=definition).raise_for_status()
        else:
            self._start("hub", [sys.executable, "-m", "bazaar.commands.broker", "serve",
                                "--data-dir", str(self.work / "broker"), "--host", "127.0.0.1",
                                "--port", str(self.port)], ready_port=self.port)

    def start_service(self, group: str) -> None:
        where = (["orchestrated", "--flow-url", self.url] if self.mode == "orchestration"
                 else ["choreography", "--bootstrap", self.bootstrap])
        roles = [a for r in GROUPS[group] for a in ("--role", r)]
        self._start(group, [sys.executable, "-m", "bazaar.flow.checkout", *where, "--dir",
                            str(self.work / "services"), *roles, *_fault_args(self.faults)])

    def kill(self, name: str) -> None:
        """kill -9 (and reap)."""
        self.procs.pop(name).kill()

    def __enter__(self) -> Rig:
        self.start_hub()
        for group in GROUPS:
            self.start_service(group)
        return self

    def __exit__(self, *_: object) -> None:
        for child in self.procs.values():  # TERM, then KILL after the grace
            child.stop()
        self.services.close()
        self.http.close()

    # --- checkouts ---------------------------------------------------------------------------
    def place(self, order_id: str, items: dict[str, int], amount_cents: int) -> None:
        if self.mode == "choreography":
            from bazaar.flow.checkout.choreographed import place_order

            place_order(self.services, order_id, items, amount_cents)
            return
        self.services.orders.open(order_id, amount_cents, orjson.dumps(items).decode())

        def started() -> bool:  # an HTTP error (the orchestrator is down): the order waits
            self.http.post(f"{self.url}/api/workflows/checkout/start", json={
                "input": {"order_id": order_id, "items": items, "amount_cents": amount_cents},
                "idempotency_key": f"checkout:{order_id}"}, timeout=10).raise_for_status()
            return True

        try:
            eventually(started, timeout=10.0, interval=0.1, what=f"checkout {order_id} started")
        except NotYet as exc:
            raise RuntimeError(f"could not start checkout {order_id}: {exc}") from exc

    def warm_up(self, timeout: float = 60.0) -> None:
        """One checkout end to end, so consumer groups have joined and connections exist."""
        order_id = f"warm-up-{time.monotonic_ns()}"
        self.place(order_id, {next(iter(self.stock)): 1}, 100)
        if not self.wait_done([order_id], timeout):
            raise RuntimeError(f"{self.mode}: the warm-up checkout did not finish")

    def orders(self) -> list[dict[str, Any]]:
        return self.services.orders.all()

    def wait_done(self, ids: Iterable[str], timeout: float) -> bool:
        wanted = set(ids)
        try:
            eventually(lambda: wanted <= {o["order_id"] for o in self.orders()
                                          if o["status"] != "pending"},
                       timeout=timeout, what="the checkouts finished")
        except NotYet:
            return False
        return True

    def steps_between(self, start: float, end: float) -> int:
        """Saga steps the inventory, payment, shipping and notification services did in
        [start, end): tasks finished (orchestration) or events they wrote (choreography)."""
        if self.mode == "orchestration":
            engine = make_engine(f"sqlite:///{self.work / 'flow.db'}")
            with engine.connect() as conn:
                n = conn.execute(sa.text(
                    "SELECT count(*) FROM flow_tasks WHERE status IN ('COMPLETED','FAILED') "
                    "AND queue != '' AND name != 'close_order' "
                    "AND ended_at >= :a AND ended_at < :b"), {"a": start, "b": end}).scalar()
            engine.dispose()
            return int(n or 0)
        total = 0
        for name, store in self.services.stores().items():
            if name == "orders":
                continue
            with store.read() as conn:
                total += int(conn.execute(sa.text(
                    "SELECT count(*) FROM outbox WHERE created_at >= :a AND created_at < :b"),
                    {"a": start, "b": end}).scalar() or 0)
        return total
