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
from bazaar.flow.orchestrator.service import Service
from bazaar.flow.orchestrator.state import IN_PROGRESS, SCHEDULED
from bazaar.flow.orchestrator.views import execution_json, explain, task_json
from bazaar.telemetry import Telemetry, http_metrics, metrics_response
from bazaar.web import ErrorMap, Guard, Limits

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


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def create_app(service: Service) -> Starlette:
    """The HTTP API over ``service`` (see docs/flow.md for every route)."""
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
        version = request.query_params.get("version")
        defn = await call(engine.definition, request.path_params["name"],
                          int(version) if version else None)
        return defn.to_dict()

    async def start(request: Request) -> Any:
        body = await read_body(request)
        result = await call(engine.start, request.path_params["name"], body.get("input") or {},
                            version=body.get("version"),
                            idempotency_key=body.get("idempotency_key"),
                            on_conflict=body.get("on_conflict", "return_existing"))
        return json_response({"id": result.id, "created": result.created, "status": result.status},
                     201 if result.created else 200)

    async def list_executions(request: Request) -> Any:
        q = request.query_params
        rows = await call(engine.executions, status=q.get("status"), name=q.get("name"),
                          limit=int(q.get("limit", "50")))
        return [execution_json(r) for r in rows]

    async def show(request: Request) -> Any:
        execution_id = request.path_params["id"]
        execution = await call(engine.get, execution_id)
        rows = await call(engine.tasks, execution_id)
        out = execution_json(execution, definition="definition" in request.query_params)
        out["tasks"] = [task_json(r) for r in rows]
        out["why"] = explain(execution, rows, engine.last_poll,
                             dict(engine.config.concurrency_limits))
        return out

    def control(action: str) -> Callable[[Request], Awaitable[Any]]:
        async def run(request: Request) -> Any:
            execution_id = request.path_params["id"]
            if action == "terminate":
                body = await read_body(request)
                await call(engine.terminate, execution_id,
                           str(body.get("reason") or "terminated by operator"))
            else:
                await call(getattr(engine, action), execution_id)
            return {"id": execution_id, "status": (await call(engine.get, execution_id)).status}

        return run

    async def signal(request: Request) -> Any:
        body = await read_body(request)
        await call(engine.signal, request.path_params["id"], request.path_params["ref"],
                   body.get("output") or {})
        return {"ok": True}

    async def poll(request: Request) -> Any:
        q = request.query_params
        worker = q.get("worker")
        if not worker:
            raise ValueError("worker is required")
        leased = await service.poll(request.path_params["queue"], worker,
                                    int(q.get("count", "1")), float(q.get("wait_s", "0")))
        return [task_json(r) for r in leased]

    async def heartbeat(request: Request) -> Any:
        body = await read_body(request)
        until = await call(engine.heartbeat, request.path_params["id"], str(body["worker"]),
                           body.get("extend_s"))
        return {"lease_until": until}

    async def report(request: Request) -> Any:
        body = await read_body(request)
        return {"accepted": await _report(request.path_params["id"], body)}

    async def _report(task_id: str, body: dict[str, Any]) -> bool:
        worker = body.get("worker")
        if body.get("status", "COMPLETED") == "COMPLETED":
            output = body.get("output") or {}
            if not isinstance(output, dict):
                raise ValueError("output must be a JSON object")
            return await call(engine.complete, task_id, output, worker_id=worker)
        return await call(engine.fail, task_id, str(body.get("error") or "failed"),
                          retryable=bool(body.get("retryable", True)), worker_id=worker)

    async def report_many(request: Request) -> Any:
        body = await read_body(request)
        results = body.get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ValueError("results must be a list of objects")
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

    routes = [
        Route("/api/health", guard(health)),
        Route("/api/definitions", guard(list_definitions)),
        Route("/api/definitions", guard(register), methods=["POST"]),
        Route("/api/definitions/{name}", guard(get_definition)),
        Route("/api/workflows/{name}/start", guard(start), methods=["POST"]),
        Route("/api/executions", guard(list_executions)),
        Route("/api/executions/{id}", guard(show)),
        Route("/api/executions/{id}/signal/{ref}", guard(signal), methods=["POST"]),
        Route("/api/tasks/poll/{queue}", guard(poll)),
        Route("/api/tasks/results", guard(report_many), methods=["POST"]),
        Route("/api/tasks/{id}/heartbeat", guard(heartbeat), methods=["POST"]),
        Route("/api/tasks/{id}/result", guard(report), methods=["POST"]),
        Route("/api/queues", guard(queues)),
    ]
    for action in ("terminate", "pause", "resume", "retry"):
        routes.append(Route(f"/api/executions/{{id}}/{action}", guard(control(action)),
                            methods=["POST"]))
    # Prometheus: requests by route and status, latency; request ids (bazaar.telemetry).
    metrics = http_metrics("orchestrator")

    async def metrics_text(request: Request) -> Response:
        body, kind = metrics_response(metrics.registry)
        return Response(body, media_type=kind)

    routes.append(Route("/metrics", metrics_text))
    # Outermost: metrics and request ids (every answer counted), then the body limit.
    return Starlette(routes=routes, lifespan=lifespan, middleware=[
        Middleware(Telemetry, metrics=metrics, routes=lambda: routes),
        Middleware(Guard, errors=ERRORS, limits=Limits(max_body=MAX_BODY))])
