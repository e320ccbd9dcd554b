"""The orchestrator's HTTP API (Starlette): definitions, executions, long-polling workers.

``create_app`` builds the app over a running :class:`~.service.Service`. Errors leave as
RFC 9457 problem details rendered by :mod:`bazaar.web` (one ``type`` base for all of
Bazaar), and bodies over :data:`MAX_BODY` are refused before they are read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bazaar.flow.errors import (
    DefinitionError,
    FlowError,
    InvalidState,
    LeaseLost,
    NotFound,
    StartConflict,
    StoreError,
)
from bazaar.flow.orchestrator import schemas as s
from bazaar.flow.orchestrator.conductor_api import conductor_poll
from bazaar.flow.orchestrator.conductor_api import operations as conductor_operations
from bazaar.flow.orchestrator.service import Service
from bazaar.flow.orchestrator.state import IN_PROGRESS, SCHEDULED
from bazaar.flow.orchestrator.views import execution_json, explain, task_json
from bazaar.telemetry import Telemetry, http_metrics, metrics_response
from bazaar.web import (
    ApiOperation,
    ErrorMap,
    Guard,
    Limits,
    body_of,
    openapi_document,
    operation_routes,
    query_of,
)

Handler = Callable[[Request], Awaitable[Response]]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


#: The largest request body accepted (a definition, a batch of results); larger is a 413
#: before a byte of it is read.
MAX_BODY = 4 * 1024 * 1024

#: Flow errors as problem details, through bazaar.web's one renderer and error map. The
#: titles are what FlowClient reads back (``start conflict``, ``lease lost``).
ERRORS = (
    ErrorMap.standard(logging.getLogger("bazaar.flow"))
    .add(DefinitionError, 422, "flow/invalid-definition", "invalid definition",
         extensions=lambda e: {"problems": e.problems})
    .add(StartConflict, 409, "flow/start-conflict", "start conflict",
         extensions=lambda e: {"existing_id": e.existing_id})
    .add(NotFound, 404, "not-found", "not found")
    .add(LeaseLost, 409, "flow/lease-lost", "lease lost")
    .add(InvalidState, 409, "flow/invalid-state", "invalid state")
    .add(StoreError, 503, "flow/store-unavailable", "store unavailable", retryable=True)
    .add(ValueError, 400, "bad-request", "bad request")
    .add(KeyError, 400, "bad-request", "bad request")
    .add(TypeError, 400, "bad-request", "bad request")
    .add(FlowError, 500, "flow/error", "flow error")
)




def create_app(service: Service) -> Starlette:
    """The HTTP API over ``service`` (see docs/flow.md for every route; ``/openapi.json``
    documents each, from the same table that routes them)."""
    engine = service.engine
    call = service.call

    def guard(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                result = await fn(request)
            except (FlowError, ValueError, KeyError, TypeError) as exc:
                return ERRORS.response(exc)
            return result if isinstance(result, Response) else json_response(result)

        return handler

    async def health(_: Request) -> Any:
        return {"status": "ok", "executions": await call(engine.counts)}

    async def register(request: Request) -> Any:
        raw = await request.body()
        defn = await call(engine.register, raw)
        return json_response({"name": defn.name, "version": defn.version}, 201)

    async def list_definitions(_: Request) -> Any:
        return [{"name": n, "version": v, "description": d}
                for n, v, d in await call(engine.definitions)]

    async def get_definition(request: Request) -> Any:
        q = query_of(request, s.DefinitionQuery)
        defn = await call(engine.definition, request.path_params["name"], q.version)
        return defn.to_dict()

    async def start(request: Request) -> Any:
        body = await body_of(request, s.StartIn, optional=True)
        result = await call(engine.start, request.path_params["name"], body.input or {},
                            version=body.version, idempotency_key=body.idempotency_key,
                            on_conflict=body.on_conflict)
        return json_response({"id": result.id, "created": result.created, "status": result.status},
                             201 if result.created else 200)

    async def list_executions(request: Request) -> Any:
        q = query_of(request, s.ExecutionsQuery)
        rows = await call(engine.executions, status=q.status, name=q.name, limit=q.limit)
        return [execution_json(r) for r in rows]

    async def show(request: Request) -> Any:
        execution_id = request.path_params["id"]
        q = query_of(request, s.ExecutionQuery)
        execution = await call(engine.get, execution_id)
        rows = await call(engine.tasks, execution_id)
        out = execution_json(execution, definition=q.definition is not None)
        out["tasks"] = [task_json(r) for r in rows]
        out["why"] = explain(execution, rows, engine.last_poll,
                             dict(engine.config.concurrency_limits))
        return out

    def control(action: str) -> Callable[[Request], Awaitable[Any]]:
        async def run(request: Request) -> Any:
            execution_id = request.path_params["id"]
            body = await body_of(request, s.ReasonIn, optional=True)
            if action == "terminate":
                await call(engine.terminate, execution_id,
                           body.reason or "terminated by operator")
            else:
                await call(getattr(engine, action), execution_id)
            return {"id": execution_id, "status": (await call(engine.get, execution_id)).status}

        run.__name__ = action
        return run

    async def signal(request: Request) -> Any:
        body = await body_of(request, s.SignalIn, optional=True)
        await call(engine.signal, request.path_params["id"], request.path_params["ref"],
                   body.output or {})
        return {"ok": True}

    async def poll(request: Request) -> Any:
        q = query_of(request, s.PollQuery)
        if q.worker is None:
            return await conductor_poll(service, request.path_params["queue"], q.workerid,
                                        q.wait_s)
        leased = await service.poll(request.path_params["queue"], q.worker, q.count, q.wait_s)
        return [task_json(r) for r in leased]

    async def heartbeat(request: Request) -> Any:
        body = await body_of(request, s.HeartbeatIn)
        until = await call(engine.heartbeat, request.path_params["id"], body.worker,
                           body.extend_s)
        return {"lease_until": until}

    async def report(request: Request) -> Any:
        body = await body_of(request, s.ResultIn, optional=True)
        task_id = request.path_params["id"]
        if body.status == "COMPLETED":
            accepted = await call(engine.complete, task_id, body.output or {},
                                  worker_id=body.worker)
        else:
            accepted = await call(engine.fail, task_id, body.error or "failed",
                                  retryable=body.retryable, worker_id=body.worker)
        return {"accepted": accepted}

    async def report_many(request: Request) -> Any:
        body = await body_of(request, s.ResultsIn)
        results = [{f: getattr(r, f) for f in r.__struct_fields__ if getattr(r, f) is not None}
                   for r in body.results]
        return {"accepted": await call(engine.report, results)}

    async def queues(_: Request) -> Any:
        depth = await call(engine.queue_depths)
        names = set(depth) | set(engine.last_poll)
        return {name: {"scheduled": depth.get(name, {}).get(SCHEDULED, 0),
                       "in_progress": depth.get(name, {}).get(IN_PROGRESS, 0),
                       "last_poll": engine.last_poll.get(name, (None, None))[0],
                       "last_worker": engine.last_poll.get(name, (None, None))[1],
                       "limit": engine.config.concurrency_limits.get(name)}
                for name in sorted(names)}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with service.running():
            yield

    def op(method: str, path: str, fn: Callable[[Request], Awaitable[Any]], summary: str,
           **more: Any) -> ApiOperation:
        return ApiOperation(method, path, guard(fn), fn.__name__, summary, **more)

    name, execution = {"name": s.Name}, {"id": s.ExecutionId}
    new_execution = {target: {"id": "$response.body#/id"} for target in
                     ("show", "signal", "terminate", "pause", "resume", "retry")}
    operations = [
        op("GET", "/api/health", health, "Liveness, and executions per status"),
        op("GET", "/api/definitions", list_definitions, "Every registered definition"),
        op("POST", "/api/definitions", register, "Register a workflow definition (JSON; "
           "a new version of an existing name)", ok=201, body=dict[str, Any],
           errors=(422,), links={target: {"name": "$response.body#/name"}
                                 for target in ("get_definition", "start")}),
        op("GET", "/api/definitions/{name}", get_definition, "A definition (its latest "
           "version unless asked)", query=s.DefinitionQuery, errors=(404,),
           path_params=name),
        op("POST", "/api/workflows/{name}/start", start, "Start an execution (idempotent "
           "with an idempotency_key)", ok=201, also_ok=(200,), body=s.StartIn, body_required=False,
           errors=(400, 404, 409), path_params=name, links=new_execution,
           description="201 when a new execution was created, 200 with the existing one "
                       "for a repeated idempotency_key."),
        op("GET", "/api/executions", list_executions, "Recent executions, newest first",
           query=s.ExecutionsQuery),
        op("GET", "/api/executions/{id}", show, "An execution, every attempt of every "
           "task, and why it is where it is", query=s.ExecutionQuery, errors=(404,),
           path_params=execution),
        op("POST", "/api/executions/{id}/signal/{ref}", signal, "Complete a waiting "
           "WAIT/EVENT task with an output", body=s.SignalIn, body_required=False,
           errors=(404, 409), path_params=execution),
        *[op("POST", f"/api/executions/{{id}}/{action}", control(action),
             f"{action.capitalize()} an execution", body=s.ReasonIn, body_required=False,
             errors=(404, 409), path_params=execution)
          for action in ("terminate", "pause", "resume", "retry")],
        op("GET", "/api/tasks/poll/{queue}", poll, "Lease due tasks of a queue "
           "(long-poll); without `worker`, Conductor's single poll (one Task, 204 if none)",
           query=s.PollQuery, also_ok=(204,)),
        op("POST", "/api/tasks/results", report_many, "Report many results in one "
           "transaction; per item true, false (already finished) or an error",
           body=s.ResultsIn),
        op("POST", "/api/tasks/{id}/heartbeat", heartbeat, "Extend a task's lease",
           body=s.HeartbeatIn, errors=(404, 409)),
        op("POST", "/api/tasks/{id}/result", report, "Complete or fail a task "
           "(accepted: false when it had already finished)", body=s.ResultIn,
           body_required=False, errors=(404, 409)),
        op("GET", "/api/queues", queues, "Queues: depth, last poll, concurrency limit"),
        *conductor_operations(service, op),
    ]
    document = orjson.dumps(openapi_document(
        operations, title="Bazaar orchestrator", version="1",
        description="Durable workflows (Conductor-style): definitions, executions, "
                    "long-polling workers. Errors are RFC 9457 problem+json.",
        always_errors=(503,)))

    async def openapi_json(_: Request) -> Response:
        return Response(document, media_type="application/json")

    # Prometheus: requests by route and status, latency; request ids (bazaar.telemetry).
    metrics = http_metrics("orchestrator")

    async def metrics_text(request: Request) -> Response:
        body, kind = metrics_response(metrics.registry)
        return Response(body, media_type=kind)

    routes = [*operation_routes(operations),
              Route("/openapi.json", openapi_json, methods=["GET"]),
              Route("/metrics", metrics_text)]
    # Outermost: metrics and request ids (every answer counted), then the body limit.
    return Starlette(routes=routes, lifespan=lifespan, middleware=[
        Middleware(Telemetry, metrics=metrics, routes=lambda: routes),
        Middleware(Guard, errors=ERRORS, limits=Limits(max_body=MAX_BODY))],
        exception_handlers=ERRORS.handlers())
