"""One table that routes a component's HTTP API and documents it (OpenAPI 3.1), with the
msgspec types that decode its query strings and bodies — so the documented bounds are the
enforced bounds — for frontends other than the shop (the orchestrator, the functions
platform). A wrong input is a ``msgspec.ValidationError`` naming the field, which
:meth:`ErrorMap.standard` maps to 422.

    ops = [ApiOperation("GET", "/things", list_things, "list_things", "List things",
                     query=ListQuery)]
    app = Starlette(routes=routes_by_path(ops) + [Route("/openapi.json", ...)])
    document = openapi_document(ops, title="Things", version="1")
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bazaar.web._problem import PROBLEM_JSON, Problem

T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]

#: A path parameter unless an operation says otherwise: a name or an id.
PathText = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]

_PATH_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 204: "No content",
                400: "Bad request", 401: "No or bad credentials", 403: "Not allowed",
                404: "Not found", 409: "Conflict with the current state",
                413: "Body too large", 422: "Invalid input (the field is named)",
                429: "Too many requests", 503: "Unavailable (Retry-After)"}


@dataclass(frozen=True)
class ApiOperation:
    """One route and what OpenAPI says about it. ``query`` and ``body`` are msgspec types
    (a Struct per query string; any type for a JSON body), and so is each of
    ``path_params`` (default: :data:`PathText`); ``ok`` the success status;
    ``errors`` the problem statuses it may answer besides 413/422 (implied by inputs) and
    those every operation may (``always_errors`` of :func:`openapi_document`)."""

    method: str
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    ok: int = 200
    #: Other success statuses, answered with the same kind of body.
    also_ok: tuple[int, ...] = ()
    query: type[Any] | None = None
    body: Any = None
    body_required: bool = True
    path_params: Mapping[str, Any] = field(default_factory=dict)
    response: Any = None
    errors: tuple[int, ...] = ()
    description: str = ""
    #: The media type of a success body; None for a body-less answer (204).
    media: str | None = "application/json"
    #: OpenAPI links from a success answer: target operation id → its parameter → where
    #: the value is in this answer (``$response.body#/id``), so clients and fuzzers can
    #: follow what was just made.
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def query_of(request: Request, kind: type[T]) -> T:
    """The query string as ``kind`` (a Struct): each parameter at most once, strings
    converted to the declared types and held to their bounds (``?limit=`` is an error on
    ``limit``, not the default)."""
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in values:
            raise msgspec.ValidationError(f"may be given at most once - at `$.{name}`")
        values[name] = value
    return msgspec.convert(values, kind, strict=False)


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


async def body_of(request: Request, kind: type[T], *, optional: bool = False) -> T:
    """The JSON body as ``kind``; with ``optional``, an empty body reads as ``{}`` (every
    field its default), else it is an error on ``body``.

    As in JSON Schema, a number with no fraction (``4.0``, ``1e2``) is an integer where
    ``kind`` wants one — only there: free-form JSON inside the body is left as sent."""
    raw = await request.body()
    if not raw and not optional:
        raise msgspec.ValidationError("a JSON body is required")
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise
    data: Any = msgspec.json.decode(raw)
    for _ in range(256):
        try:
            return msgspec.convert(data, kind)
        except msgspec.ValidationError as exc:
            if not _integral_at(data, str(exc)):
                raise
    return msgspec.convert(data, kind)


def _integral_at(data: Any, error: str) -> bool:
    """Turn the integral float the error points at into an int; False if it is not one."""
    found = _AT.search(error)
    if "got `float`" not in error or found is None:
        return False
    steps = [int(i) if i else key for key, i in _STEP.findall(found.group("path"))]
    if not steps:
        return False
    parent = data
    try:
        for step in steps[:-1]:
            parent = parent[step]
        value = parent[steps[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    if not (isinstance(value, float) and value.is_integer()):
        return False
    parent[steps[-1]] = int(value)
    return True


def routes_by_path(table: Mapping[str, Mapping[str, Endpoint]]) -> list[BaseRoute]:
    """One route per path (``table``: path → method → endpoint), dispatching on the method,
    so that a 405's ``Allow`` and an ``OPTIONS`` answer name every method the path has (not
    only the first route's); ``HEAD`` goes wherever ``GET`` does."""
    routes: list[BaseRoute] = []
    for path, by_method in table.items():
        endpoints = dict(by_method)
        allow = ", ".join(sorted({*endpoints, "OPTIONS"} | ({"HEAD"} if "GET" in endpoints
                                                             else set())))

        async def options(request: Request, allow: str = allow) -> Response:
            return Response(status_code=204, headers={"Allow": allow})

        endpoints["OPTIONS"] = options
        if "GET" in endpoints:
            endpoints["HEAD"] = endpoints["GET"]

        async def dispatch(request: Request, endpoints: dict[str, Endpoint] = endpoints
                           ) -> Response:
            return await endpoints[request.method](request)

        routes.append(Route(path, dispatch, methods=list(endpoints)))
    return routes


def _checked(op: ApiOperation) -> Endpoint:
    """``op.endpoint`` behind a check of its path parameters against their types."""
    kinds = {name: op.path_params.get(name, PathText) for name in _PATH_PARAM.findall(op.path)}
    endpoint = op.endpoint

    async def checked(request: Request) -> Response:
        for name, kind in kinds.items():
            try:
                msgspec.convert(request.path_params[name], kind, strict=False)
            except msgspec.ValidationError as exc:
                raise msgspec.ValidationError(f"{exc} - at `$.{name}`") from None
        return await endpoint(request)

    return checked


def operation_routes(operations: Sequence[ApiOperation]) -> list[BaseRoute]:
    """:func:`routes_by_path` over ``operations``, each path parameter checked first."""
    table: dict[str, dict[str, Endpoint]] = {}
    for op in operations:
        table.setdefault(op.path, {})[op.method] = _checked(op)
    return routes_by_path(table)


def _query_params(kind: type[Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = msgspec.json.schema(kind, ref_template="#/components/schemas/{name}")
    defs = schema.pop("$defs", {})
    definition = defs.pop(kind.__name__)
    components.update(defs)
    required = set(definition.get("required", ()))
    out = []
    for name, prop in definition["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "schema": prop}
        if description:
            param["description"] = description
        out.append(param)
    return out


def openapi_document(operations: Sequence[ApiOperation], *, title: str, version: str,
                     description: str = "", problem: type[Problem] = Problem,
                     security_schemes: Mapping[str, Any] | None = None,
                     always_errors: tuple[int, ...] = (),
                     invalid_status: int = 422) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``, as plain JSON values. With
    ``security_schemes``, every operation requires one of them (and may answer 401);
    ``invalid_status`` is what a request against the schema gets (422, or 400 where an
    API's own convention says so)."""
    kinds: list[Any] = [problem]
    for op in operations:
        for kind in (op.body, op.response):
            if kind is not None and kind not in kinds:
                kinds.append(kind)
    schemas, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}")
    schema_of = dict(zip(map(repr, kinds), schemas, strict=True))
    problem_ref = {"content": {PROBLEM_JSON: {"schema": schema_of[repr(problem)]}}}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True,
             "schema": msgspec.json.schema(op.path_params.get(name, PathText))}
            for name in _PATH_PARAM.findall(op.path)]
        if op.query is not None:
            params += _query_params(op.query, components)
        item: dict[str, Any] = {"summary": op.summary, "operationId": op.operation_id}
        if op.description:
            item["description"] = op.description
        if params:
            item["parameters"] = params
        errors = set(op.errors) | set(always_errors)
        if params:
            errors.add(invalid_status)
        if op.body is not None:
            item["requestBody"] = {"required": op.body_required, "content": {
                "application/json": {"schema": schema_of[repr(op.body)]}}}
            errors |= {413, invalid_status}
        ok: dict[str, Any] = {"description": _STATUS_TEXT.get(op.ok, "OK")}
        if op.media is not None:
            ok["content"] = {op.media: {"schema": schema_of[repr(op.response)]
                                        if op.response is not None else {}}}
        if op.links:
            ok["links"] = {target: {"operationId": target, "parameters": dict(params)}
                           for target, params in op.links.items()}
        if security_schemes:
            errors.add(401)
        item["responses"] = {str(op.ok): ok} | {
            str(status): {**{k: v for k, v in ok.items() if k != "content" or status != 204},
                          "description": _STATUS_TEXT.get(status, "OK")}
            for status in op.also_ok} | {
            str(status): {"description": _STATUS_TEXT.get(status, "Error"), **problem_ref}
            for status in sorted(errors)}
        paths.setdefault(_PATH_PARAM.sub(r"{\1}", op.path), {})[op.method.lower()] = item
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": components},
    }
    if security_schemes:
        document["components"]["securitySchemes"] = dict(security_schemes)
        document["security"] = [{name: []} for name in security_schemes]
    return document
