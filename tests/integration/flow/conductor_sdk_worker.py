"""Workers written against the unmodified conductor-python SDK, in their own process.

    python conductor_sdk_worker.py API_URL LOGFILE WORKER_ID TASK_TYPE...

Runs the SDK's own ``TaskHandler`` (batch poll + update-v2) over the named task types.
Every run is logged (one JSON line: event, task id, worker, poll count) before the
worker returns, so a test can count deliveries and completions. (No ``from __future__
import annotations``: the SDK reads the handlers' annotations to pass them the Task.)
"""


import json
import sys
import time
from typing import Any

from conductor.client.automator.task_handler import TaskHandler
from conductor.client.configuration.configuration import Configuration
from conductor.client.http.models.task import Task
from conductor.client.http.models.task_result import TaskResult
from conductor.client.http.models.task_result_status import TaskResultStatus
from conductor.client.worker.worker import Worker

URL, LOG, WORKER = sys.argv[1], sys.argv[2], sys.argv[3]
TYPES = sys.argv[4:]


def log(event: str, task: Task, **extra: Any) -> None:
    with open(LOG, "a") as f:
        f.write(json.dumps({"event": event, "task": task.task_id, "worker": WORKER,
                            "type": task.task_def_name, "polls": task.poll_count,
                            **extra}) + "\n")


def greet(task: Task) -> dict[str, Any]:
    log("run", task)
    return {"msg": f"hello {task.input_data.get('who')}", "by": WORKER}


def slow(task: Task) -> dict[str, Any]:
    """A worker whose id starts with ``doomed`` never finishes in time (it is killed)."""
    log("run", task)
    time.sleep(600 if WORKER.startswith("doomed") else float(task.input_data["sleep_s"]))
    log("done", task)
    return {"by": WORKER}


def later(task: Task) -> TaskResult:
    """IN_PROGRESS with callbackAfterSeconds on the first delivery, done on the next."""
    log("run", task)
    result = TaskResult(task_id=task.task_id, workflow_instance_id=task.workflow_instance_id,
                        worker_id=WORKER)
    if task.poll_count == 1:
        result.status = TaskResultStatus.IN_PROGRESS
        result.callback_after_seconds = 1
        result.output_data = {"stage": "waiting"}
        result.log("not ready yet, call me back")
    else:
        result.status = TaskResultStatus.COMPLETED
        result.output_data = {"stage": "done", "polls": task.poll_count}
        result.log("done")
    return result


def long(task: Task) -> dict[str, Any]:
    """Outlives its response timeout; the SDK's lease extension keeps it ours."""
    log("run", task)
    time.sleep(float(task.input_data.get("sleep_s", 3)))
    return {"by": WORKER}


HANDLERS = {"greet": greet, "slow": slow, "later": later, "long": long}

if __name__ == "__main__":
    config = Configuration(server_api_url=URL)
    workers = [Worker(task_definition_name=t, execute_function=HANDLERS[t], worker_id=WORKER,
                      poll_interval=20, lease_extend_enabled=(t == "long"))
               for t in TYPES]
    with TaskHandler(workers=workers, configuration=config, scan_for_annotated_workers=False,
                     monitor_processes=False) as handler:
        handler.start_processes()
        handler.join_processes()
