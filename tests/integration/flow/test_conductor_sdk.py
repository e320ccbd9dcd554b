"""The unmodified conductor-python SDK against the orchestrator's Conductor API: its metadata
client registers task and workflow definitions, its workflow client starts, reads and
terminates, its TaskHandler (batch poll + update-v2) and its task client's single poll run
the work, and a worker killed with -9 mid-task has the task redelivered after its response
timeout, completed once. One orchestrator process (SQLite) for the module."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.start_workflow_request import StartWorkflowRequest
from conductor.client.http.models.task_def import TaskDef
from conductor.client.http.models.task_result import TaskResult
from conductor.client.http.models.task_result_status import TaskResultStatus
from conductor.client.http.rest import ApiException
from conductor.client.orkes_clients import OrkesClients
from conductor.client.workflow.conductor_workflow import ConductorWorkflow
from conductor.client.workflow.task.simple_task import SimpleTask
from conductor.client.workflow.task.switch_task import SwitchTask
from tests.support.orchestrator import OrchestratorProcess

from bazaar.processes import Child, eventually

WORKER = Path(__file__).with_name("conductor_sdk_worker.py")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    tmp = tmp_path_factory.mktemp("conductor")
    with OrchestratorProcess(tmp / "flow.db", log=tmp / "flow.log") as running:
        yield running


@pytest.fixture(scope="module")
def clients(node: OrchestratorProcess) -> OrkesClients:
    clients = OrkesClients(configuration=Configuration(server_api_url=f"{node.url}/api"))
    meta = clients.get_metadata_client()
    for name, timeout in (("greet", 30), ("solo", 30), ("slow", 2), ("later", 30), ("long", 8)):
        meta.register_task_def(TaskDef(name=name, retry_count=1, retry_delay_seconds=0,
                                       response_timeout_seconds=timeout, timeout_seconds=300))
    return clients


def workflow(name: str, *tasks: SimpleTask) -> ConductorWorkflow:
    wf = ConductorWorkflow(executor=None, name=name, version=1)  # type: ignore[arg-type]
    for task in tasks:
        wf.add(task)
    return wf


def simple(name: str, ref: str, **inputs: Any) -> SimpleTask:
    task = SimpleTask(name, ref)
    task.input_parameters.update(inputs)
    return task


def worker(node: OrchestratorProcess, tmp: Path, worker_id: str, *types: str) -> Child:
    return Child([sys.executable, str(WORKER), f"{node.url}/api", str(tmp / "runs.jsonl"),
                  worker_id, *types], name=f"sdk-{worker_id}", log=tmp / f"{worker_id}.log",
                 ready=lambda: True).start()


def runs(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def finished(clients: OrkesClients, workflow_id: str) -> Any:
    wf = clients.get_workflow_client().get_workflow(workflow_id, include_tasks=True)
    assert wf.status in ("COMPLETED", "FAILED", "TERMINATED", "TIMED_OUT"), wf.status
    return wf


def test_metadata_client_registers_and_reads_definitions(clients: OrkesClients) -> None:
    meta = clients.get_metadata_client()
    assert meta.get_task_def("greet").response_timeout_seconds == 30
    wf = workflow("hello", simple("greet", "greet_ref", who="${workflow.input.who}"))
    wf.output_parameters({"msg": "${greet_ref.output.msg}"})
    meta.register_workflow_def(wf.to_workflow_def(), overwrite=True)
    meta.register_workflow_def(wf.to_workflow_def(), overwrite=True)   # same body: no-op
    back = meta.get_workflow_def("hello")
    assert back.name == "hello" and back.version == 1
    assert back.tasks[0].task_reference_name == "greet_ref"
    assert back.output_parameters == {"msg": "${greet_ref.output.msg}"}


def test_what_does_not_map_is_refused_at_registration_with_reasons(
        clients: OrkesClients, node: OrchestratorProcess) -> None:
    meta = clients.get_metadata_client()
    with pytest.raises(ApiException) as refused:
        meta.register_task_def(TaskDef(name="lin", retry_logic="LINEAR_BACKOFF"))
    assert refused.value.status == 422 and "LINEAR_BACKOFF" in str(refused.value.body)
    bad = {"name": "bad", "version": 1, "tasks": [
        {"name": "x", "taskReferenceName": "loop", "type": "DO_WHILE"},
        {"name": "nobody", "taskReferenceName": "n", "type": "SIMPLE"},
        {"name": "s", "taskReferenceName": "js", "type": "SWITCH",
         "evaluatorType": "javascript", "expression": "$.x > 1", "decisionCases": {}}]}
    r = httpx.post(f"{node.url}/api/metadata/workflow", json=bad, timeout=10)
    assert r.status_code == 422, r.text
    problems = " ".join(r.json()["problems"])
    assert "DO_WHILE" in problems and "no task definition 'nobody'" in problems
    assert "javascript" in problems
    with pytest.raises(ApiException):
        meta.get_workflow_def("bad")


def test_task_handler_runs_a_workflow_with_batch_poll_and_update_v2(
        clients: OrkesClients, node: OrchestratorProcess, tmp_path: Path) -> None:
    meta, wfc = clients.get_metadata_client(), clients.get_workflow_client()
    switch = SwitchTask("route", "${workflow.input.who}")
    switch.switch_case("bob", simple("greet", "bob_ref", who="dear bob"))
    switch.default_case(simple("greet", "other_ref", who="${first.output.msg}"))
    wf = workflow("two_greetings", simple("greet", "first", who="${workflow.input.who}"),
                  switch)
    meta.register_workflow_def(wf.to_workflow_def(), overwrite=True)
    ids = [wfc.start_workflow(StartWorkflowRequest(name="two_greetings", input={"who": who}))
           for who in ("ann", "bob")]
    child = worker(node, tmp_path, "w1", "greet")
    try:
        done = [eventually(lambda i=i: finished(clients, i), timeout=60) for i in ids]
    finally:
        child.stop()
    assert [d.status for d in done] == ["COMPLETED", "COMPLETED"]
    ann, bob = ({t.reference_task_name: t for t in d.tasks} for d in done)
    assert ann["other_ref"].output_data["msg"] == "hello hello ann"
    assert bob["bob_ref"].output_data == {"msg": "hello dear bob", "by": "w1"}
    assert "other_ref" not in bob
    assert all(t.worker_id == "w1" for t in [*ann.values(), *bob.values()]
               if t.task_type == "greet")


def test_single_poll_update_terminate_and_logs_with_the_task_client(
        clients: OrkesClients, node: OrchestratorProcess) -> None:
    meta, wfc, tasks = (clients.get_metadata_client(), clients.get_workflow_client(),
                        clients.get_task_client())
    wf = workflow("single", simple("solo", "a", who="${workflow.input.who}"),
                  simple("solo", "b", who="${a.output.msg}"))
    meta.register_workflow_def(wf.to_workflow_def(), overwrite=True)
    first = wfc.start_workflow(StartWorkflowRequest(name="single", input={"who": "cy"}))
    polled = []
    for _ in range(2):
        task = eventually(lambda: _polled(tasks), what="a task from the single poll")
        polled.append(task)
        result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id,
                            worker_id="solo", status=TaskResultStatus.COMPLETED,
                            output_data={"msg": f"hi {task.input_data['who']}"})
        result.log(f"ran {task.reference_task_name}")
        tasks.update_task(result)
    wf_done = finished(clients, first)
    assert wf_done.status == "COMPLETED"
    assert [t.reference_task_name for t in polled] == ["a", "b"]
    assert polled[1].input_data == {"who": "hi cy"}
    logs = tasks.get_task_logs(polled[1].task_id)
    assert [entry.log for entry in logs] == ["ran b"]
    # An empty queue answers "no task" (204): the SDK reads it as an empty Task.
    assert getattr(tasks.poll_task("solo", worker_id="solo"), "task_id", None) is None
    # Terminate a running one through the workflow client; its task is cancelled.
    second = wfc.start_workflow(StartWorkflowRequest(name="single", input={"who": "dee"}))
    wfc.terminate_workflow(second, reason="changed my mind")
    gone = finished(clients, second)
    assert gone.status == "TERMINATED" and gone.reason_for_incompletion == "changed my mind"
    assert [t.status for t in gone.tasks] == ["CANCELED"]


def _polled(tasks: Any) -> Any:
    task = tasks.poll_task("solo", worker_id="solo")
    assert task is not None and task.task_id is not None
    return task


def test_in_progress_with_callback_redelivers_and_lease_extension_keeps_the_task(
        clients: OrkesClients, node: OrchestratorProcess, tmp_path: Path) -> None:
    meta, wfc = clients.get_metadata_client(), clients.get_workflow_client()
    meta.register_workflow_def(workflow("patient", simple("later", "l"),
                                        simple("long", "x", sleep_s=9)).to_workflow_def())
    started = wfc.start_workflow(StartWorkflowRequest(name="patient", input={}))
    child = worker(node, tmp_path, "w2", "later", "long")
    try:
        done = eventually(lambda: finished(clients, started), timeout=60)
    finally:
        child.stop()
    assert done.status == "COMPLETED"
    later, long = done.tasks
    assert later.output_data == {"stage": "done", "polls": 2} and later.poll_count == 2
    # The 9 s task outlived its 8 s response timeout: the SDK's extendLease heartbeats kept
    # it leased, so it was delivered once.
    assert long.poll_count == 1 and long.output_data == {"by": "w2"}
    assert [r["type"] for r in runs(tmp_path)].count("long") == 1
    logs = clients.get_task_client().get_task_logs(later.task_id)
    assert [entry.log for entry in logs] == ["not ready yet, call me back", "done"]


def test_worker_killed_mid_task_is_redelivered_after_its_response_timeout_once(
        clients: OrkesClients, node: OrchestratorProcess, tmp_path: Path) -> None:
    meta, wfc = clients.get_metadata_client(), clients.get_workflow_client()
    meta.register_workflow_def(workflow("crashy", simple("slow", "s", sleep_s=1))
                               .to_workflow_def())
    # The first worker sleeps far longer than the 2 s response timeout and is killed -9.
    started = wfc.start_workflow(StartWorkflowRequest(name="crashy", input={}))
    doomed = worker(node, tmp_path, "doomed", "slow")
    eventually(lambda: [r for r in runs(tmp_path) if r["worker"] == "doomed"], timeout=30,
               what="the doomed worker to start the task")
    doomed.kill()
    survivor = worker(node, tmp_path, "survivor", "slow")
    try:
        done = eventually(lambda: finished(clients, started), timeout=60)
    finally:
        survivor.stop()
    assert done.status == "COMPLETED"
    (task,) = done.tasks
    assert task.output_data == {"by": "survivor"} and task.poll_count == 2
    assert task.retry_count == 0          # the same attempt, redelivered: not a retry
    done_lines = [r for r in runs(tmp_path) if r["event"] == "done"]
    assert [r["worker"] for r in done_lines] == ["survivor"]


def test_bad_conductor_requests_are_clear_errors_and_change_nothing(
        clients: OrkesClients, node: OrchestratorProcess) -> None:
    api = f"{node.url}/api"
    before = httpx.get(f"{api}/health", timeout=10).json()["executions"]
    for method, path, body, status, field in [
        ("POST", "/tasks", {"taskId": "t"}, 422, "status"),
        ("POST", "/tasks", {"taskId": "t", "status": "DONE"}, 422, "status"),
        ("POST", "/tasks/update-v2", {"taskId": "t", "status": "COMPLETED",
                                      "callbackAfterSeconds": 2**70}, 422,
         "callbackAfterSeconds"),
        ("POST", "/workflow", {"name": "hello", "version": 0}, 422, "version"),
        ("GET", "/tasks/poll/batch/greet?timeout=30001", None, 422, "timeout"),
    ]:
        r = httpx.request(method, f"{api}{path}", json=body, timeout=10)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["field"] == field, (path, r.json())
    assert httpx.post(f"{api}/tasks", json={"taskId": "nope", "status": "COMPLETED"},
                      timeout=10).status_code == 404
    r = httpx.post(f"{api}/workflow", json={"name": "hello", "taskToDomain": {"greet": "x"}},
                   timeout=10)
    assert r.status_code == 400 and "taskToDomain" in r.json()["detail"]
    r = httpx.post(f"{api}/workflow", content=b"\xff\x00garbage", timeout=10)
    assert r.status_code in (400, 422), r.text
    assert httpx.get(f"{api}/health", timeout=10).json()["executions"] == before


CHECKOUT_WORKER = Path(__file__).with_name("conductor_checkout_worker.py")
#: Seeded so that 3 of the 6 charges are declined (the provider's RNG draws per charge).
DECLINE_RATE, DECLINE_SEED = 0.5, 4


def checkout_definitions(meta: Any) -> None:
    """The shop's checkout saga as Conductor users write it: the forward steps, and a
    failureWorkflow that compensates — every compensation idempotent and safe when there is
    nothing to undo (a refund of a declined or "timed out but charged" card, a release of a
    reservation that never happened)."""
    order = "${workflow.input.order_id}"
    for name, retries in (("reserve_inventory", 3), ("charge_payment", 3),
                          ("create_shipment", 3), ("fulfil_inventory", 10),
                          ("notify_customer", 10), ("close_order", 10),
                          ("refund_payment", 10), ("release_inventory", 10)):
        meta.register_task_def(TaskDef(name=name, retry_count=retries, retry_delay_seconds=0,
                                       response_timeout_seconds=10, timeout_seconds=60))
    saga = workflow("checkout",
                    simple("reserve_inventory", "reserve", order_id=order,
                           items="${workflow.input.items}"),
                    simple("charge_payment", "charge", order_id=order,
                           amount_cents="${workflow.input.amount_cents}"),
                    simple("create_shipment", "ship", order_id=order),
                    simple("fulfil_inventory", "fulfil", order_id=order),
                    simple("notify_customer", "notify", order_id=order),
                    simple("close_order", "close", order_id=order, status="completed"))
    saga.failure_workflow("checkout_compensate")
    saga.timeout_seconds(600)       # the SDK's default is 60 s, which Bazaar enforces
    saga.output_parameters({"shipment_id": "${ship.output.shipment_id}",
                            "charge_id": "${charge.output.charge_id}"})
    undo = workflow("checkout_compensate",
                    simple("refund_payment", "refund", order_id=order),
                    simple("release_inventory", "release", order_id=order),
                    simple("close_order", "close", order_id=order, status="failed",
                           reason="${workflow.input.reason}"))
    meta.register_workflow_def(undo.to_workflow_def(), overwrite=True)
    meta.register_workflow_def(saga.to_workflow_def(), overwrite=True)


def test_the_checkout_saga_runs_through_the_sdk_and_a_declined_card_is_compensated(
        clients: OrkesClients, node: OrchestratorProcess, tmp_path: Path) -> None:
    from tests.support.checkout import STOCK, open_services

    from bazaar.flow.checkout.audit import audit
    from bazaar.flow.checkout.faults import Faults

    checkout_definitions(clients.get_metadata_client())
    services = open_services(tmp_path / "shop", Faults())
    wfc = clients.get_workflow_client()
    log = tmp_path / "checkout-worker.log"
    # The SDK's task runners (one per task type) start first.
    child = Child([sys.executable, str(CHECKOUT_WORKER), f"{node.url}/api",
                   str(tmp_path / "shop" / "services"), str(DECLINE_RATE), str(DECLINE_SEED)],
                  name="sdk-checkout", log=log, ready=lambda: True).start()
    orders = {f"sdk-{i}": ({"mug": 1 + i % 2, "cap": 1}, 1000 + i) for i in range(6)}
    started = {}
    try:
        for order_id, (items, amount) in orders.items():
            services.orders.open(order_id, amount, json.dumps(items))
            started[order_id] = wfc.start_workflow(StartWorkflowRequest(
                name="checkout", correlation_id=order_id,
                input={"order_id": order_id, "items": items, "amount_cents": amount}))
        # correlationId is stored and searchable through the SDK.
        found = wfc.get_by_correlation_ids("checkout", ["sdk-0", "sdk-5", "nobody"],
                                           include_completed=True)
        assert {k: [w.workflow_id for w in v] for k, v in found.items()} == {
            "sdk-0": [started["sdk-0"]], "sdk-5": [started["sdk-5"]], "nobody": []}
        eventually(lambda: log.read_text().count("Conductor Worker[") == 8, timeout=180,
                   what="the SDK's 8 task runners to poll")
        done = {o: eventually(lambda i=i: finished(clients, i), timeout=90)
                for o, i in started.items()}
        declined = [o for o, wf in done.items() if wf.status == "FAILED"]
        undo = {o: eventually(lambda o=o: _closed(services, o), timeout=60) for o in declined}
    finally:
        child.stop()
    assert len(declined) == 3, {o: (wf.status, wf.reason_for_incompletion)
                                for o, wf in done.items()}
    for order_id, wf in done.items():
        if order_id in declined:
            assert "card declined" in wf.reason_for_incompletion
            assert [t.task_def_name for t in wf.tasks] == ["reserve_inventory",
                                                          "charge_payment"]
            assert wf.tasks[1].status == "FAILED_WITH_TERMINAL_ERROR"
            assert "card declined" in undo[order_id]["reason"]
        else:
            assert wf.status == "COMPLETED" and wf.output["shipment_id"]
            assert [t.status for t in wf.tasks] == ["COMPLETED"] * 6
    # The books of every service agree: stock conserved and nothing left reserved, a
    # completed order charged exactly once and shipped, a declined one holding no money.
    report = audit(services, STOCK)
    assert report.ok and report.pending == 0, report.problems
    assert (report.completed, report.failed) == (3, 3)
    assert set(services.provider.charged()) == {f"order:{o}" for o in orders
                                                if o not in declined}
    assert done["sdk-0"].correlation_id == "sdk-0"
    # Without includeClosed, only running workflows are found (as in Conductor).
    assert wfc.get_by_correlation_ids("checkout", ["sdk-0"]) == {"sdk-0": []}


def _closed(services: Any, order_id: str) -> dict[str, Any]:
    order = services.orders.get(order_id)
    assert order is not None and order["status"] == "failed", order
    return dict(order)
