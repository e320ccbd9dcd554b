"""The frontend: the platform's HTTP API (Starlette), shaped after Lambda's.

Errors are RFC 9457 problem details (``bazaar.web``) whose ``title`` is the Lambda-style error
code. A sync invoke answers 200 with the handler's JSON, or 200 with ``X-Function-Error:
Unhandled`` and ``{errorType, errorMessage, stackTrace}``; an Event invoke answers 202 once
queued durably.

In front of the routes, outermost first: body limits (``bazaar.web.Guard``: a declared
``Content-Length`` over the limit is refused before a byte is read, a chunked body as soon as
its running total passes it — 6 MiB for invocations, 70 MB for code uploads; a stalled body
gets 408), then Bearer authentication (``_access``), checked before the body is read.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar.functions._access import PlatformAccess, guard
from bazaar.functions._errors import (
    Conflict,
    FunctionsError,
    HostLost,
    InvalidPackage,
    InvalidRequest,
    NoCapacity,
    PayloadTooLarge,
    QueueError,
    ResourceNotFound,
    TooManyRequests,
)
from bazaar.functions._model import FunctionSpec, InvocationResult
from bazaar.functions._packages import MAX_PACKAGE_BYTES
from bazaar.functions._platform import Platform
from bazaar.telemetry import Telemetry, http_metrics, metrics_response
from bazaar.web import BodyTooLarge, ErrorMap, Guard, Limits

MAX_EVENT_BYTES = 6 * 1024 * 1024
#: A code upload: a 50 MB zip in base64 (4/3) plus its JSON.
MAX_UPLOAD_BYTES = MAX_PACKAGE_BYTES * 4 // 3 + 64 * 1024
#: The listener's own limits (uvicorn): request heads, idle and slow clients, connections.
LISTENER = Limits(max_body=MAX_UPLOAD_BYTES, body_timeout_s=30.0, header_timeout_s=10.0,
                  keep_alive_s=5.0, max_connections=1000)


def error_map() -> ErrorMap:
    """Every platform error as a problem whose title is its Lambda error code."""
    errors = ErrorMap.standard()
    slugs = {InvalidRequest: "invalid-parameter", InvalidPackage: "invalid-zip-file",
             PayloadTooLarge: "request-too-large", ResourceNotFound: "resource-not-found",
             Conflict: "resource-conflict", TooManyRequests: "too-many-requests",
             NoCapacity: "service-unavailable", HostLost: "host-lost", QueueError: "queue",
             FunctionsError: "service"}
    for kind, slug in slugs.items():
        errors.add(kind, kind.status, slug, kind.code)
    errors.add(BodyTooLarge, 413, "request-too-large", PayloadTooLarge.code,
               detail=lambda e: f"the request body is over the limit of {e.limit} bytes")
    return errors


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise InvalidRequest(f"request body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


def _code(data: dict[str, Any]) -> bytes:
    code = data.get("code")
    if not isinstance(code, str):
        raise InvalidRequest("'code' (the base64 zip) is required")
    try:
        return base64.b64decode(code, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"'code' is not base64: {exc}") from exc


def _result_headers(result: InvocationResult) -> dict[str, str]:
    headers = {"x-request-id": result.request_id, "x-executed-version": result.version,
               "x-duration-ms": f"{result.duration_ms:.3f}",
               "x-max-memory-mb": f"{result.max_memory_mb:.1f}"}
    if result.init_duration_ms is not None:
        headers["x-init-duration-ms"] = f"{result.init_duration_ms:.3f}"
    if result.error is not None:
        headers["x-function-error"] = "Unhandled"
    return headers


def build_app(platform: Platform, access: PlatformAccess | None = None, *,
              limits: Limits = LISTENER) -> Any:
    """The frontend's ASGI app over ``platform``: the routes behind Bearer authentication
    (``access``; None only for an app embedded where nobody else can reach it) and body
    limits checked before anything is read (``limits.max_body`` for uploads, 6 MiB for
    invocations)."""
    routes_app = _routes(platform)
    errors = error_map()
    inner: Any = routes_app if access is None else guard(routes_app, access)
    invoking = Guard(inner, errors=errors, limits=replace(limits, max_body=MAX_EVENT_BYTES))
    uploading = Guard(inner, errors=errors, limits=limits)

    metrics = http_metrics("functions")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":  # Prometheus, open
            body, kind = metrics_response(metrics.registry)
            await Response(body, media_type=kind)(scope, receive, send)
            return
        chosen = invoking if str(scope.get("path", "")).endswith("/invocations") else uploading
        await chosen(scope, receive, send)

    # Requests by route and status, latency, request ids (bazaar.telemetry).
    return Telemetry(app, metrics=metrics, routes=lambda: routes_app.routes)


def _routes(platform: Platform) -> Starlette:

    async def create(request: Request) -> Response:
        data = await _json(request)
        spec = data.get("spec")
        if not isinstance(spec, dict):
            raise InvalidRequest("'spec' (the function settings) is required")
        return JSONResponse(await platform.create_function(FunctionSpec.from_dict(spec),
                                                           _code(data)), status_code=201)

    async def list_functions(request: Request) -> Response:
        return JSONResponse([platform.registry.describe(n) for n in platform.registry.names()])

    async def describe(request: Request) -> Response:
        return JSONResponse(platform.registry.describe(request.path_params["name"]))

    async def delete(request: Request) -> Response:
        await platform.delete_function(request.path_params["name"])
        return Response(status_code=204)

    async def put_code(request: Request) -> Response:
        data = await _json(request)
        config = data.get("config")
        if config is not None and not isinstance(config, dict):
            raise InvalidRequest("'config' must be an object of settings")
        return JSONResponse(await platform.update_code(request.path_params["name"], _code(data),
                                                       config))

    async def put_config(request: Request) -> Response:
        data = await _json(request)
        return JSONResponse(await platform.update_config(request.path_params["name"], data))

    async def publish(request: Request) -> Response:
        version = await platform.publish(request.path_params["name"])
        return JSONResponse({"version": version}, status_code=201)

    async def put_alias(request: Request) -> Response:
        data = await _json(request)
        version = data.get("version")
        if not isinstance(version, str):
            raise InvalidRequest("'version' (a string) is required")
        platform.registry.set_alias(request.path_params["name"], request.path_params["alias"],
                                    version)
        return JSONResponse({"alias": request.path_params["alias"], "version": version})

    async def invoke(request: Request) -> Response:
        name = request.path_params["name"]
        qualifier = request.query_params.get("qualifier")
        payload = await request.body() or b"{}"
        if len(payload) > MAX_EVENT_BYTES:
            raise PayloadTooLarge(f"the event is {len(payload)} bytes; the limit is "
                                  f"{MAX_EVENT_BYTES}")
        try:
            json.loads(payload)
        except ValueError as exc:
            raise InvalidRequest(f"the event is not JSON: {exc}") from exc
        kind = request.headers.get("x-invocation-type", "RequestResponse")
        if kind == "Event":
            request_id = await platform.invoke_async(name, payload, qualifier)
            return JSONResponse({"requestId": request_id}, status_code=202,
                                headers={"x-request-id": request_id})
        if kind != "RequestResponse":
            raise InvalidRequest(f"unknown invocation type {kind!r}")
        result = await platform.invoke(name, payload, qualifier)
        headers = _result_headers(result)
        if request.headers.get("x-log-type") == "Tail":
            headers["x-log-result"] = base64.b64encode(
                result.logs[-4096:].encode()).decode()
        body = result.payload if result.error is None else json.dumps(
            result.error.to_dict()).encode()
        return Response(body, headers=headers, media_type="application/json")

    async def logs(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError as exc:
            raise InvalidRequest("limit must be an integer") from exc
        if name not in platform.registry.names():
            platform.registry.get(name)
        return JSONResponse(platform.logs.tail(name, limit))

    async def dead_letters(request: Request) -> Response:
        letters = await platform.dead_letters(request.query_params.get("function"))
        return JSONResponse([{
            "id": d.id, "function": d.function, "qualifier": d.qualifier,
            "payload": d.payload.decode("utf-8", "replace"), "enqueuedAt": d.enqueued_at,
            "attempts": d.attempts, "reason": d.reason, "error": d.error,
            "failedAt": d.failed_at} for d in letters])

    async def redrive(request: Request) -> Response:
        data = await _json(request)
        ids = data.get("ids")
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, int) for i in ids)):
            raise InvalidRequest("'ids' must be a list of integers")
        function = data.get("function")
        if function is not None and not isinstance(function, str):
            raise InvalidRequest("'function' must be a string")
        return JSONResponse({"redriven": await platform.redrive(ids, function)})

    async def delete_letter(request: Request) -> Response:
        try:
            letter_id = int(request.path_params["id"])
        except ValueError as exc:
            raise InvalidRequest("a dead letter id is an integer") from exc
        await platform.delete_dead_letter(letter_id)
        return Response(status_code=204)

    async def create_source(request: Request) -> Response:
        return JSONResponse(await platform.create_event_source(await _json(request)),
                            status_code=201)

    async def list_sources(request: Request) -> Response:
        return JSONResponse(platform.event_sources())

    async def delete_source(request: Request) -> Response:
        await platform.delete_event_source(request.path_params["uuid"])
        return Response(status_code=204)

    async def hosts(request: Request) -> Response:
        return JSONResponse(platform.manager.hosts())

    async def stats(request: Request) -> Response:
        return JSONResponse(platform.stats())

    routes = [
        Route("/functions", create, methods=["POST"]),
        Route("/functions", list_functions, methods=["GET"]),
        Route("/functions/{name}", describe, methods=["GET"]),
        Route("/functions/{name}", delete, methods=["DELETE"]),
        Route("/functions/{name}/code", put_code, methods=["PUT"]),
        Route("/functions/{name}/config", put_config, methods=["PUT"]),
        Route("/functions/{name}/versions", publish, methods=["POST"]),
        Route("/functions/{name}/aliases/{alias}", put_alias, methods=["PUT"]),
        Route("/functions/{name}/invocations", invoke, methods=["POST"]),
        Route("/functions/{name}/logs", logs, methods=["GET"]),
        Route("/dead-letters", dead_letters, methods=["GET"]),
        Route("/dead-letters/redrive", redrive, methods=["POST"]),
        Route("/dead-letters/{id}", delete_letter, methods=["DELETE"]),
        Route("/event-source-mappings", create_source, methods=["POST"]),
        Route("/event-source-mappings", list_sources, methods=["GET"]),
        Route("/event-source-mappings/{uuid}", delete_source, methods=["DELETE"]),
        Route("/hosts", hosts, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers=error_map().handlers())
