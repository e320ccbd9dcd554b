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
import json
from dataclasses import replace
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bazaar.functions import _lambda_api as aws
from bazaar.functions import _schemas as sc
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
from bazaar.web import (
    ApiOperation,
    BodyTooLarge,
    ErrorMap,
    Guard,
    Limits,
    body_of,
    field_of,
    openapi_document,
    operation_routes,
    query_of,
)

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
    # A value against the documented schema: Lambda's 400, naming the field.
    errors.add(msgspec.ValidationError, 400, "invalid-parameter", InvalidRequest.code,
               detail=lambda e: field_of(e)[1], extensions=lambda e: {"field": field_of(e)[0]})
    errors.add(msgspec.DecodeError, 400, "invalid-parameter", InvalidRequest.code,
               detail=lambda e: f"the body is not JSON: {e}",
               extensions=lambda e: {"field": "body"})
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


def _unbase64(code: str) -> bytes:
    """The zip from its base64 (the schema's pattern has checked the alphabet and padding)."""
    return base64.b64decode(code, validate=True)


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
              limits: Limits = LISTENER, failed_burst: int = 30) -> Any:
    """The frontend's ASGI app over ``platform``: the routes behind Bearer authentication
    (``access``; None only for an app embedded where nobody else can reach it) and body
    limits checked before anything is read (``limits.max_body`` for uploads, 6 MiB for
    invocations)."""
    routes_app, document = _routes(platform)
    errors = error_map()
    aws_app = aws.lambda_routes(platform)
    aws_errors = aws.lambda_error_map()
    inner: Any = routes_app
    aws_inner: Any = aws_app
    if access is not None:
        # One authenticator for both APIs: failures count once per client, whichever it hits.
        authenticator = access.authenticator(failed_burst)
        inner = guard(routes_app, access, authenticator=authenticator,
                      max_sigv4_body=limits.max_body)
        aws_inner = guard(aws_app, access, authenticator=authenticator, refuse=aws.refuse,
                          max_sigv4_body=limits.max_body)
    event_limits = replace(limits, max_body=MAX_EVENT_BYTES)
    invoking = Guard(inner, errors=errors, limits=event_limits)
    uploading = Guard(inner, errors=errors, limits=limits)
    aws_invoking = Guard(aws_inner, errors=aws_errors, limits=event_limits)
    aws_uploading = Guard(aws_inner, errors=aws_errors, limits=limits)

    metrics = http_metrics("functions")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":  # Prometheus, open
            body, kind = metrics_response(metrics.registry)
            await Response(body, media_type=kind)(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("path") == "/openapi.json":  # open too
            await Response(document, media_type="application/json")(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        invocation = path.endswith("/invocations")
        if path.startswith(aws.PREFIX + "/"):  # AWS Lambda's own API, for boto3
            await (aws_invoking if invocation else aws_uploading)(scope, receive, send)
            return
        await (invoking if invocation else uploading)(scope, receive, send)

    # Requests by route and status, latency, request ids (bazaar.telemetry).
    return Telemetry(app, metrics=metrics,
                     routes=lambda: [*routes_app.routes, *aws_app.routes])


def _routes(platform: Platform) -> tuple[Starlette, bytes]:
    """The routes, and the OpenAPI document made from the same table."""

    async def create(request: Request) -> Response:
        body = await body_of(request, sc.CreateIn)
        spec = FunctionSpec(**msgspec.structs.asdict(body.spec))
        return JSONResponse(await platform.create_function(spec, _unbase64(body.code)),
                            status_code=201)

    async def list_functions(request: Request) -> Response:
        return JSONResponse([platform.registry.describe(n) for n in platform.registry.names()])

    async def describe(request: Request) -> Response:
        return JSONResponse(platform.registry.describe(request.path_params["name"]))

    async def delete(request: Request) -> Response:
        await platform.delete_function(request.path_params["name"])
        return Response(status_code=204)

    async def put_code(request: Request) -> Response:
        body = await body_of(request, sc.CodeIn)
        changes = body.config.changes() if body.config is not None else None
        return JSONResponse(await platform.update_code(request.path_params["name"],
                                                       _unbase64(body.code), changes))

    async def put_config(request: Request) -> Response:
        changes = (await body_of(request, sc.Settings)).changes()
        return JSONResponse(await platform.update_config(request.path_params["name"], changes))

    async def publish(request: Request) -> Response:
        version = await platform.publish(request.path_params["name"])
        return JSONResponse({"version": version}, status_code=201)

    async def put_alias(request: Request) -> Response:
        version = (await body_of(request, sc.AliasIn)).version
        platform.registry.set_alias(request.path_params["name"], request.path_params["alias"],
                                    version)
        return JSONResponse({"alias": request.path_params["alias"], "version": version})

    async def invoke(request: Request) -> Response:
        name = request.path_params["name"]
        qualifier = query_of(request, sc.InvokeQuery).qualifier
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
        limit = query_of(request, sc.LogsQuery).limit
        if name not in platform.registry.names():
            platform.registry.get(name)
        return JSONResponse(platform.logs.tail(name, limit))

    async def dead_letters(request: Request) -> Response:
        letters = await platform.dead_letters(query_of(request, sc.DeadLettersQuery).function)
        return JSONResponse([{
            "id": d.id, "function": d.function, "qualifier": d.qualifier,
            "payload": d.payload.decode("utf-8", "replace"), "enqueuedAt": d.enqueued_at,
            "attempts": d.attempts, "reason": d.reason, "error": d.error,
            "failedAt": d.failed_at} for d in letters])

    async def redrive(request: Request) -> Response:
        body = await body_of(request, sc.RedriveIn, optional=True)
        return JSONResponse({"redriven": await platform.redrive(body.ids, body.function)})

    async def delete_letter(request: Request) -> Response:
        await platform.delete_dead_letter(int(request.path_params["id"]))
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

    name, alias = {"name": sc.Name}, {"name": sc.Name, "alias": sc.Name}
    ops = [
        ApiOperation("POST", "/functions", create, "create_function", "Create a function "
                     "from a zip (base64) and its settings", ok=201, body=sc.CreateIn,
                     errors=(400, 409)),
        ApiOperation("GET", "/functions", list_functions, "list_functions",
                     "Every function"),
        ApiOperation("GET", "/functions/{name}", describe, "get_function",
                     "A function: settings, versions, aliases", path_params=name,
                     errors=(404,)),
        ApiOperation("DELETE", "/functions/{name}", delete, "delete_function",
                     "Delete a function, its versions and mappings", ok=204, media=None,
                     path_params=name, errors=(404,)),
        ApiOperation("PUT", "/functions/{name}/code", put_code, "update_code", "New code "
                     "for $LATEST (and new settings in the same step)", body=sc.CodeIn,
                     path_params=name, errors=(400, 404)),
        ApiOperation("PUT", "/functions/{name}/config", put_config, "update_config",
                     "Change settings of $LATEST", body=sc.Settings, path_params=name,
                     errors=(400, 404)),
        ApiOperation("POST", "/functions/{name}/versions", publish, "publish_version",
                     "Publish $LATEST as a numbered version", ok=201, path_params=name,
                     errors=(404,)),
        ApiOperation("PUT", "/functions/{name}/aliases/{alias}", put_alias, "put_alias",
                     "Point an alias at a published version", body=sc.AliasIn,
                     path_params=alias, errors=(400, 404)),
        ApiOperation("POST", "/functions/{name}/invocations", invoke, "invoke",
                     "Invoke (X-Invocation-Type: RequestResponse, or Event for 202)",
                     also_ok=(202,), body=Any, body_required=False, query=sc.InvokeQuery,
                     path_params=name, errors=(400, 404, 429, 503)),
        ApiOperation("GET", "/functions/{name}/logs", logs, "function_logs",
                     "The latest invocations' logs", query=sc.LogsQuery, path_params=name,
                     errors=(404,)),
        ApiOperation("GET", "/dead-letters", dead_letters, "dead_letters",
                     "Async events that ran out of retries", query=sc.DeadLettersQuery),
        ApiOperation("POST", "/dead-letters/redrive", redrive, "redrive",
                     "Queue dead letters again (these ids, or a function's, or all)",
                     body=sc.RedriveIn, body_required=False, errors=(404,)),
        ApiOperation("DELETE", "/dead-letters/{id:int}", delete_letter, "delete_dead_letter",
                     "Drop a dead letter", ok=204, media=None,
                     path_params={"id": sc.LetterId}, errors=(404,)),
        ApiOperation("POST", "/event-source-mappings", create_source, "create_mapping",
                     "Map a log topic to a function (a poller consumes it)", ok=201,
                     body=dict[str, Any], errors=(400, 404)),
        ApiOperation("GET", "/event-source-mappings", list_sources, "list_mappings",
                     "Every event source mapping"),
        ApiOperation("DELETE", "/event-source-mappings/{uuid}", delete_source,
                     "delete_mapping", "Stop and drop a mapping", ok=204, media=None,
                     errors=(404,)),
        ApiOperation("GET", "/hosts", hosts, "hosts", "Worker hosts and their capacity"),
        ApiOperation("GET", "/stats", stats, "stats", "Sandboxes, starts, queue depth"),
    ]
    document = msgspec.json.encode(openapi_document(
        ops, title="Bazaar functions", version="1",
        description="Functions as a service, shaped after AWS Lambda. Errors are RFC 9457 "
                    "problem+json whose title is Lambda's error code.",
        security_schemes={"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                     "description": "A token with the functions:admin scope "
                                                    "(`bazaar functions token`)."}},
        always_errors=(403, 413, 429), invalid_status=400))
    return Starlette(routes=operation_routes(ops),
                     exception_handlers=error_map().handlers()), document
