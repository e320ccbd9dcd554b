"""The shop's checkout saga's steps as workers of the unmodified conductor-python SDK.

    python conductor_checkout_worker.py API_URL SERVICES_DIR DECLINE_RATE SEED

Runs one of the SDK's own ``TaskRunner`` loops (batch poll + update-v2) per task of the
checkout saga (``orchestrated.ROLES``), each in a thread of this one process
(``TaskHandler`` would spawn a process per task type: eight imports, a minute and more on a
loaded 2-core machine; it is tested on its own in test_conductor_sdk.py). Each handler is
the saga's own (``orchestrated.handlers``) over the
services' databases in SERVICES_DIR. The payment provider declines cards at DECLINE_RATE
(seeded). A final failure of a step (a declined card, no stock, no carrier) is the SDK's
``NonRetryableException`` (FAILED_WITH_TERMINAL_ERROR). (No ``from __future__ import
annotations``: the SDK reads the handlers' annotations to pass them the Task.)
"""


import asyncio
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from conductor.client.automator.task_runner import TaskRunner
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.task import Task
from conductor.client.worker.exception import NonRetryableException
from conductor.client.worker.worker import Worker

from bazaar.flow import NonRetryableError
from bazaar.flow.checkout import orchestrated
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Databases, Services
from bazaar.flow.orchestrator import Task as FlowTask

URL, DIR, DECLINE, SEED = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
_opened: dict[str, Any] = {}
_lock = threading.Lock()


def _handlers() -> dict[str, Any]:
    """The saga's handlers over the services' databases, opened once."""
    with _lock:
        if "h" not in _opened:
            services = Services.open(Databases.under(DIR),
                                     Faults(decline_rate=DECLINE, seed=SEED))
            _opened["h"] = orchestrated.handlers(services)
        return _opened["h"]


def _as_flow(task: Task) -> FlowTask:
    return FlowTask(id=task.task_id, execution_id=task.workflow_instance_id,
                    ref=task.reference_task_name, name=task.task_def_name, kind="forward",
                    input=dict(task.input_data or {}), attempt=(task.retry_count or 0) + 1,
                    deliveries=task.poll_count or 1,
                    lease_s=float(task.response_timeout_seconds or 30),
                    idempotency_key=f"{task.workflow_instance_id}/{task.reference_task_name}")


def _run(name: str, task: Task) -> dict[str, Any]:
    try:
        return dict(asyncio.run(_handlers()[name](_as_flow(task))))
    except NonRetryableError as final:
        raise NonRetryableException(str(final)) from final


# One module-level function per task (the SDK spawns its worker processes and finds each
# handler again by its name).
def reserve_inventory(task: Task) -> dict[str, Any]:
    return _run("reserve_inventory", task)


def release_inventory(task: Task) -> dict[str, Any]:
    return _run("release_inventory", task)


def fulfil_inventory(task: Task) -> dict[str, Any]:
    return _run("fulfil_inventory", task)


def charge_payment(task: Task) -> dict[str, Any]:
    return _run("charge_payment", task)


def refund_payment(task: Task) -> dict[str, Any]:
    return _run("refund_payment", task)


def create_shipment(task: Task) -> dict[str, Any]:
    return _run("create_shipment", task)


def notify_customer(task: Task) -> dict[str, Any]:
    return _run("notify_customer", task)


def close_order(task: Task) -> dict[str, Any]:
    return _run("close_order", task)


STEPS = {f.__name__: f for f in (reserve_inventory, release_inventory, fulfil_inventory,
                                 charge_payment, refund_payment, create_shipment,
                                 notify_customer, close_order)}

if __name__ == "__main__":
    config = Configuration(server_api_url=URL)
    assert set(STEPS) == {n for role in orchestrated.ROLES.values() for n in role}
    runners = [TaskRunner(Worker(task_definition_name=n, execute_function=f,
                                 worker_id=f"sdk-{n}", poll_interval=20), config)
               for n, f in STEPS.items()]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=r.run, daemon=True) for r in runners]
    for t in threads:
        t.start()
    stop.wait()
    for r in runners:
        r.stop()
