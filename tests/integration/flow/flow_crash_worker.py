"""A worker process for the crash tests: runs the saga's steps and logs every run and ack.

    python flow_crash_worker.py URL LOGFILE WORKER_ID [SLOW_S]
    python flow_crash_worker.py URL LOGFILE --zygote [SLOW_S]

The second form imports everything once, then forks a fresh worker for every line
``spawn WORKER_ID`` on stdin and answers its pid (a line): the random-kill test replaces a
killed worker in milliseconds instead of a second of interpreter start-up per kill. The
forks are reaped automatically (SIGCHLD ignored); the zygote exits when stdin closes.

Each handler logs ``run`` (with the attempt's idempotency key) before returning; the client
logs ``ack`` once the orchestrator has accepted the result. Orders divisible by 5 are
declined at ``charge`` (non-retryable), so those sagas compensate.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from typing import Any

from bazaar.flow import NonRetryableError
from bazaar.flow.orchestrator import FlowClient, Task, Worker

URL, LOG, WORKER = sys.argv[1], sys.argv[2], sys.argv[3]
SLOW = float(sys.argv[4]) if len(sys.argv) > 4 else 0.03


def log(event: str, task: Task, **extra: Any) -> None:
    line = {"event": event, "key": task.idempotency_key, "exec": task.execution_id,
            "ref": task.ref, "kind": task.kind, "worker": WORKER, **extra}
    with open(LOG, "a") as f:
        f.write(json.dumps(line) + "\n")
        f.flush()


class LoggingClient(FlowClient):
    tasks: dict[str, Task] = {}

    async def report(self, results: list[dict[str, Any]]) -> list[bool | str]:
        answers = await super().report(results)
        for item, answer in zip(results, answers, strict=True):
            if item["status"] == "COMPLETED" and isinstance(answer, bool):
                log("ack", self.tasks[item["task_id"]], accepted=answer)
        return answers


async def main() -> None:
    LoggingClient.tasks = {}
    client = LoggingClient(URL)
    worker = Worker(client, worker_id=WORKER, poll_wait_s=1.0, report_retry_max_s=0.5)

    def step(name: str) -> Any:
        async def handler(task: Task) -> dict[str, Any]:
            LoggingClient.tasks[task.id] = task
            await asyncio.sleep(random.uniform(0, SLOW))
            if name == "charge" and int(task.input["order"]) % 5 == 0:
                log("run", task, declined=True)
                raise NonRetryableError("card declined")
            log("run", task)
            return {"id": f"{name}-{task.input.get('order')}"}

        return handler

    for name in ("reserve", "charge", "ship", "notify", "release", "refund"):
        worker.add(name, step(name), concurrency=4)
    await worker.run()


def zygote() -> None:
    global WORKER
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for line in sys.stdin:
        name = line.split()[1]
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(0)
            WORKER = name
            asyncio.run(main())
            os._exit(0)
        print(pid, flush=True)


if WORKER == "--zygote":
    zygote()
else:
    asyncio.run(main())
