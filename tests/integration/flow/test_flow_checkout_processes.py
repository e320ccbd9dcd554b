"""The orchestrated checkout as separate processes — orchestrator, payment service,
shipping service, the rest — with the orchestrator killed (-9) mid-checkout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from tests.support.checkout import STOCK, open_services, random_orders
from tests.support.orchestrator import OrchestratorProcess

from bazaar.flow.checkout import orchestrated
from bazaar.flow.checkout.audit import audit
from bazaar.flow.checkout.faults import Faults
from bazaar.processes import eventually


@pytest.mark.slow
def test_orchestrator_killed_mid_checkout_every_checkout_finishes_or_compensates(
        tmp_path: Path) -> None:
    faults = ["--decline-rate", "0.15", "--timeout-rate", "0.1", "--ship-fail-rate", "0.1",
              "--provider-latency", "0.01"]
    services = open_services(tmp_path, Faults())
    node = OrchestratorProcess(tmp_path / "flow.db", log=tmp_path / "orchestrator.log").start()
    node.register(orchestrated.DEFINITIONS)
    roles = [["payment"], ["shipping"], ["inventory", "notification", "orders"]]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "bazaar.flow.checkout", "orchestrated", "--flow-url", node.url,
         "--dir", str(tmp_path / "services"), *[a for r in role for a in ("--role", r)],
         *faults], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for role in roles]
    orders = random_orders(40, seed=4)
    try:
        for order_id, items, amount in orders:
            services.orders.open(order_id, amount, orjson.dumps(items).decode())
            httpx.post(f"{node.url}/api/workflows/checkout/start", json={
                "input": {"order_id": order_id, "items": items, "amount_cents": amount},
                "idempotency_key": order_id}).raise_for_status()
        def some_done_some_running() -> bool:
            states = [o["status"] for o in services.orders.all()]
            return len(states) - states.count("pending") >= 8 and "pending" in states

        eventually(some_done_some_running, timeout=120, interval=0.02,
                   what="8 checkouts finished while others still run")
        in_flight = sum(o["status"] == "pending" for o in services.orders.all())
        node.kill9()
        assert in_flight > 0, "the orchestrator must die with checkouts in flight"
        time.sleep(0.5)  # workers keep polling a dead orchestrator; results wait
        node.start()
        eventually(lambda: all(o["status"] != "pending" for o in services.orders.all()),
                   timeout=120, interval=0.1, what="every checkout ends after the restart")
    finally:
        for w in workers:
            w.terminate()
            w.wait()
        node.stop()
    report = audit(services, STOCK)
    assert report.ok, report.problems
    assert report.completed + report.failed == 40
