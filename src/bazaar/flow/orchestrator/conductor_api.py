"""Netflix Conductor's REST API (the subset its workers and clients use), under ``/api``
beside Bazaar's own, over the same engine: the unmodified ``conductor-python`` SDK drives it.

Shapes are Conductor's (:mod:`.conductor` translates); errors are the orchestrator's RFC 9457
problem details. Every operation is in the same OpenAPI table as Bazaar's routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from bazaar.flow.errors import InvalidState, NotFound
from bazaar.flow.orchestrator import schemas as s
from bazaar.flow.orchestrator.conductor import (
    check_task_def,
    task_shape,
    to_flow,
    workflow_shape,
)
from bazaar.flow.orchestrator.engine import Orchestrator
from bazaar.flow.orchestrator.service import Service
from bazaar.flow.orchestrator.state import IN_FLIGHT, TaskRow
from bazaar.web import ApiOperation, body_of, query_of

Op = Callable[..., ApiOperation]
#: Conductor's long polls wait at most this long (its batch-poll ``timeout`` is in ms).
MAX_TIMEOUT_MS = int(s.MAX_WAIT_S * 1000)
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_Defs = Annotated[list[dict[str, Any]], msgspec.Meta(max_length=1000)]
_Count = Annotated[int, msgspec.Meta(ge=1, le=1000, description="Up to this many tasks.")]


class BatchPollQuery(msgspec.Struct):
    workerid: s.Worker | None = None
    count: _Count = 1
    timeout: Annotated[int, msgspec.Meta(ge=0, le=MAX_TIMEOUT_MS, description=(
        "Long-poll: wait up to this many milliseconds for a task."))] = 100
    domain: Annotated[str, msgspec.Meta(max_length=255)] | None = None


class StartQuery(msgspec.Struct):
    version: s.Version | None = None
    correlationId: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    priority: Annotated[int, msgspec.Meta(ge=0, le=99)] | None = None


class VersionQuery(msgspec.Struct):
    version: s.Version | None = None


class OverwriteQuery(msgspec.Struct):
    overwrite: bool = True


class WorkflowQuery(msgspec.Struct):
    includeTasks: bool = True


class CorrelatedQuery(msgspec.Struct):
    includeClosed: bool = False
    includeTasks: bool = False


_CorrelationId = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
_CorrelationIds = Annotated[list[_CorrelationId], msgspec.Meta(max_length=100)]


class ReasonQuery(msgspec.Struct):
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class StartWorkflowRequest(msgspec.Struct):
    name: s.Name
    version: s.Version | None = None
    input: dict[str, Any] | None = None
    correlationId: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    priority: Annotated[int, msgspec.Meta(ge=0, le=99)] | None = None
    taskToDomain: dict[str, str] | None = None
    workflowDef: dict[str, Any] | None = None
    idempotencyKey: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    idempotencyStrategy: Literal["FAIL", "RETURN_EXISTING", "FAIL_ON_RUNNING"] | None = None


class TaskExecLog(msgspec.Struct):
    log: s.Message
    taskId: _Id | None = None
    createdTime: int | None = None


class TaskResult(msgspec.Struct):
    taskId: _Id
    status: Literal["IN_PROGRESS", "FAILED", "FAILED_WITH_TERMINAL_ERROR", "COMPLETED"]
    workflowInstanceId: _Id | None = None
    workerId: s.Worker | None = None
    outputData: dict[str, Any] | None = None
    reasonForIncompletion: s.Message | None = None
    callbackAfterSeconds: Annotated[int, msgspec.Meta(ge=0, le=86_400 * 365)] | None = None
    extendLease: bool = False
    logs: Annotated[list[TaskExecLog], msgspec.Meta(max_length=1000)] | None = None
    subWorkflowId: _Id | None = None
    externalOutputPayloadStoragePath: str | None = None


def _text(value: str) -> Response:
    return Response(value, media_type="text/plain")


_NO_CONTENT = 204


def _none() -> Response:
    return Response(status_code=_NO_CONTENT)


def _conductor_def(engine: Orchestrator, name: str, version: int | None) -> dict[str, Any]:
    defn = engine.definition(name, version)
    raw = defn.to_dict()
    source = raw.get("conductor")
    if isinstance(source, dict):
        return {**source, "name": defn.name, "version": defn.version}
    # Registered through Bazaar's own API: its name and version, and Flow's definition.
    return {"name": defn.name, "version": defn.version, "description": defn.description,
            "tasks": [], "bazaarDefinition": raw, "schemaVersion": 2}


def operations(service: Service, op: Op) -> list[ApiOperation]:
    """Conductor's operations over ``service``; ``op`` wraps a handler like every route."""
    engine = service.engine
    call = service.call

    def register_one(raw: Any) -> dict[str, Any]:
        flow = to_flow(raw, lambda n: _lookup_task_def(engine, n))
        defn = engine.register(flow)
        return {"name": defn.name, "version": defn.version}

    async def register_workflow(request: Request) -> Any:
        query_of(request, OverwriteQuery)
        return await call(register_one, await body_of(request, dict[str, Any]))

    async def update_workflows(request: Request) -> Any:
        query_of(request, OverwriteQuery)
        defs: list[dict[str, Any]] = await body_of(request, _Defs)  # type: ignore[arg-type]
        return [await call(register_one, d) for d in defs]

    async def get_workflow_def(request: Request) -> Any:
        q = query_of(request, VersionQuery)
        return await call(_conductor_def, engine, request.path_params["name"], q.version)

    async def list_workflow_defs(_: Request) -> Any:
        listing = await call(engine.definitions)
        return [await call(_conductor_def, engine, n, v) for n, v, _ in listing]

    async def register_task_defs(request: Request) -> Any:
        defs: list[dict[str, Any]] = await body_of(request, _Defs)  # type: ignore[arg-type]
        checked = [check_task_def(d) for d in defs]   # all or nothing
        for d in checked:
            await call(engine.put_task_def, d["name"], d)
        return {"registered": [d["name"] for d in checked]}

    async def update_task_def(request: Request) -> Any:
        d = check_task_def(await body_of(request, dict[str, Any]))
        await call(engine.put_task_def, d["name"], d)
        return {"registered": [d["name"]]}

    async def get_task_def(request: Request) -> Any:
        return await call(engine.task_def, request.path_params["tasktype"])

    async def list_task_defs(_: Request) -> Any:
        return await call(engine.task_defs)

    async def delete_task_def(request: Request) -> Any:
        await call(engine.delete_task_def, request.path_params["tasktype"])
        return {"deleted": request.path_params["tasktype"]}

    async def begin(name: str, version: int | None, input: dict[str, Any] | None,
                    key: str | None, strategy: str | None,
                    correlation_id: str | None) -> Response:
        on_conflict = "return_existing" if strategy == "RETURN_EXISTING" else "fail"
        if strategy == "FAIL_ON_RUNNING":
            raise ValueError("idempotencyStrategy FAIL_ON_RUNNING is not supported (FAIL or "
                             "RETURN_EXISTING)")
        result = await call(engine.start, name, input or {}, version=version,
                            idempotency_key=key, on_conflict=on_conflict,
                            correlation_id=correlation_id)
        return _text(result.id)

    async def start_workflow(request: Request) -> Any:
        body = await body_of(request, StartWorkflowRequest)
        if body.taskToDomain:
            raise ValueError("taskToDomain is not supported: Bazaar Flow has no task domains")
        if body.workflowDef:
            raise ValueError("an inline workflowDef is not supported: register it first "
                             "(POST /api/metadata/workflow)")
        return await begin(body.name, body.version, body.input, body.idempotencyKey,
                           body.idempotencyStrategy, body.correlationId)

    async def start_named(request: Request) -> Any:
        q = query_of(request, StartQuery)
        body = await body_of(request, dict[str, Any], optional=True)
        return await begin(request.path_params["workflowId"], q.version, body, None, None,
                           q.correlationId)

    async def correlated_shapes(name: str, ids: list[str], q: CorrelatedQuery
                                ) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for cid in ids:
            found = await call(engine.correlated, name, cid, include_closed=q.includeClosed)
            out[cid] = [workflow_shape(e, await call(engine.tasks, e.id) if q.includeTasks
                                       else None) for e in found]
        return out

    async def correlated(request: Request) -> Any:
        q = query_of(request, CorrelatedQuery)
        found = await correlated_shapes(request.path_params["name"],
                                        [request.path_params["correlationId"]], q)
        return found[request.path_params["correlationId"]]

    async def correlated_many(request: Request) -> Any:
        q = query_of(request, CorrelatedQuery)
        ids: list[str] = await body_of(request, _CorrelationIds)  # type: ignore[arg-type]
        return await correlated_shapes(request.path_params["name"], ids, q)

    async def get_workflow(request: Request) -> Any:
        q = query_of(request, WorkflowQuery)
        workflow_id = request.path_params["workflowId"]
        execution = await call(engine.get, workflow_id)
        rows = await call(engine.tasks, workflow_id) if q.includeTasks else None
        return workflow_shape(execution, rows)

    async def terminate_workflow(request: Request) -> Any:
        q = query_of(request, ReasonQuery)
        await call(engine.terminate, request.path_params["workflowId"],
                   q.reason or "terminated through Conductor's API")
        return _none()

    def control(action: str) -> Callable[[Request], Awaitable[Any]]:
        async def run(request: Request) -> Any:
            workflow_id = request.path_params["workflowId"]
            if action == "restart":
                raise InvalidState("restart is not supported: Bazaar Flow keeps one history "
                                   "per execution; retry it (POST /api/workflow/{id}/retry) "
                                   "or start a new one")
            await call(getattr(engine, action), workflow_id)
            return _none()

        run.__name__ = f"conductor_{action}"
        return run

    async def lease(queue: str, worker: str, count: int, wait_s: float) -> list[TaskRow]:
        return await service.poll(queue, worker, count, wait_s)

    async def batch_poll(request: Request) -> Any:
        q = query_of(request, BatchPollQuery)
        rows = await lease(request.path_params["tasktype"], q.workerid or "conductor-worker",
                           q.count, q.timeout / 1000.0)
        return [task_shape(r) for r in rows]

    async def update(result: TaskResult) -> TaskRow:
        row = await call(engine.task, result.taskId)
        if result.logs:
            await call(engine.add_task_logs, row.id, [entry.log for entry in result.logs])
        worker = result.workerId
        if result.status == "COMPLETED":
            await call(engine.complete, row.id, result.outputData or {}, worker_id=worker)
        elif result.status in ("FAILED", "FAILED_WITH_TERMINAL_ERROR"):
            await call(engine.fail, row.id, result.reasonForIncompletion or "failed",
                       retryable=result.status == "FAILED", worker_id=worker)
        elif row.status in IN_FLIGHT:
            if result.callbackAfterSeconds:
                await call(engine.postpone, row.id, float(result.callbackAfterSeconds),
                           worker_id=worker, output=result.outputData)
            else:
                # IN_PROGRESS without a callback (with or without extendLease): a
                # heartbeat, the lease runs for responseTimeoutSeconds again.
                await call(engine.heartbeat, row.id, worker or row.worker_id or "")
        return row

    async def update_task(request: Request) -> Any:
        row = await update(await body_of(request, TaskResult))
        return _text(row.id)

    async def update_task_v2(request: Request) -> Any:
        result = await body_of(request, TaskResult)
        row = await update(result)
        if not row.queue:
            return _none()
        rows = await call(engine.poll, row.queue, result.workerId or "conductor-worker", 1)
        return task_shape(rows[0]) if rows else _none()

    async def get_task(request: Request) -> Any:
        return task_shape(await call(engine.task, request.path_params["taskId"]))

    async def get_task_logs(request: Request) -> Any:
        task_id = request.path_params["taskId"]
        return [{"log": text, "taskId": task_id, "createdTime": int(at * 1000)}
                for text, at in await call(engine.task_logs, task_id)]

    async def add_task_log(request: Request) -> Any:
        line = await body_of(request, s.Message)
        await call(engine.add_task_logs, request.path_params["taskId"], [line])
        return _none()

    name, tasktype = {"name": s.Name}, {"tasktype": s.Text}
    workflow_id, task_id = {"workflowId": s.ExecutionId}, {"taskId": s.Text}
    conductor = "Conductor: "
    ops = [
        op("POST", "/api/metadata/workflow", register_workflow, conductor + "register a "
           "workflow definition (WorkflowDef; refused with every problem when a field does "
           "not map)", query=OverwriteQuery, body=dict[str, Any], errors=(409,)),
        op("PUT", "/api/metadata/workflow", update_workflows, conductor + "register "
           "workflow definitions (versions are immutable: a changed body needs a new "
           "version)", query=OverwriteQuery, body=_Defs, errors=(409,)),
        op("GET", "/api/metadata/workflow", list_workflow_defs, conductor + "every "
           "workflow definition"),
        op("GET", "/api/metadata/workflow/{name}", get_workflow_def, conductor + "a "
           "workflow definition (latest unless asked)", query=VersionQuery, errors=(404,),
           path_params=name),
        op("POST", "/api/metadata/taskdefs", register_task_defs, conductor + "create or "
           "replace task definitions", body=_Defs),
        op("PUT", "/api/metadata/taskdefs", update_task_def, conductor + "create or "
           "replace a task definition", body=dict[str, Any]),
        op("GET", "/api/metadata/taskdefs", list_task_defs, conductor + "every task "
           "definition"),
        op("GET", "/api/metadata/taskdefs/{tasktype}", get_task_def, conductor + "a task "
           "definition", errors=(404,), path_params=tasktype),
        op("DELETE", "/api/metadata/taskdefs/{tasktype}", delete_task_def, conductor +
           "delete a task definition", errors=(404,), path_params=tasktype),
        op("POST", "/api/workflow", start_workflow, conductor + "start a workflow "
           "(StartWorkflowRequest); answers its id as text", body=StartWorkflowRequest,
           errors=(400, 404, 409), media="text/plain"),
        # Conductor's POST /api/workflow/{name}: the same route template as GET and DELETE
        # /api/workflow/{workflowId}, so documented under that one path (the value is the
        # workflow's *name* here).
        op("POST", "/api/workflow/{workflowId}", start_named, conductor + "start the "
           "workflow named in the path with the body as its input; answers its id as text",
           query=StartQuery, body=dict[str, Any], body_required=False,
           errors=(400, 404, 409), path_params={"workflowId": s.Name}, media="text/plain"),
        op("GET", "/api/workflow/{name}/correlated/{correlationId}", correlated, conductor +
           "the workflows of a name started with this correlationId (active ones unless "
           "includeClosed)", query=CorrelatedQuery,
           path_params={"name": s.Name, "correlationId": _CorrelationId}),
        op("POST", "/api/workflow/{name}/correlated", correlated_many, conductor + "the "
           "workflows of a name per correlationId in the body (a list): {id: [Workflow]}",
           query=CorrelatedQuery, body=_CorrelationIds, path_params=name),
        op("GET", "/api/workflow/{workflowId}", get_workflow, conductor + "a workflow "
           "(Workflow, with its tasks unless includeTasks=false)", query=WorkflowQuery,
           errors=(404,), path_params=workflow_id),
        op("DELETE", "/api/workflow/{workflowId}", terminate_workflow, conductor +
           "terminate a workflow", query=ReasonQuery, ok=_NO_CONTENT, media=None,
           errors=(404, 409), path_params=workflow_id),
        *[op(method, f"/api/workflow/{{workflowId}}/{action}", control(action),
             f"{conductor}{action} a workflow", ok=_NO_CONTENT, media=None, errors=(404, 409),
             path_params=workflow_id)
          for method, action in (("PUT", "pause"), ("PUT", "resume"), ("POST", "retry"),
                                 ("POST", "restart"))],
        op("GET", "/api/tasks/poll/batch/{tasktype}", batch_poll, conductor + "lease up to "
           "count tasks of a type (long-poll up to timeout ms; [] when there is no work)",
           query=BatchPollQuery, path_params=tasktype),
        op("POST", "/api/tasks", update_task, conductor + "a task's result (TaskResult: "
           "COMPLETED, FAILED, FAILED_WITH_TERMINAL_ERROR, IN_PROGRESS with "
           "callbackAfterSeconds or as a heartbeat); answers the task id as text",
           body=TaskResult, errors=(404, 409), media="text/plain"),
        op("POST", "/api/tasks/update-v2", update_task_v2, conductor + "a task's result, "
           "answered with the next task of the same type for the same worker (204: none)",
           body=TaskResult, also_ok=(_NO_CONTENT,), errors=(404, 409)),
        op("GET", "/api/tasks/{taskId}", get_task, conductor + "a task (Task)",
           errors=(404,), path_params=task_id),
        op("GET", "/api/tasks/{taskId}/log", get_task_logs, conductor + "a task's "
           "execution logs", errors=(404,), path_params=task_id),
        op("POST", "/api/tasks/{taskId}/log", add_task_log, conductor + "append a line to "
           "a task's log (the body: a JSON string)", body=s.Message, ok=_NO_CONTENT,
           media=None, errors=(404,), path_params=task_id),
    ]
    return ops


def _lookup_task_def(engine: Orchestrator, name: str) -> dict[str, Any] | None:
    try:
        return engine.task_def(name)
    except NotFound:
        return None


async def conductor_poll(service: Service, queue: str, worker: str | None,
                         wait_s: float) -> Response | dict[str, Any]:
    """Conductor's single poll (``GET /api/tasks/poll/{tasktype}?workerid``): one Task, or
    204 when there is no work."""
    rows = await service.poll(queue, worker or "conductor-worker", 1, wait_s)
    return task_shape(rows[0]) if rows else _none()


__all__ = ["conductor_poll", "operations"]
