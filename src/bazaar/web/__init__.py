"""The edge every Bazaar HTTP frontend shares: one RFC 9457 problem renderer, one
error-to-status map, body limits and read timeouts, ``Connection: close`` on 5xx, and the
uvicorn settings that bound connections and request heads.

    errors = ErrorMap.standard().add(NotFound, 404, "not-found", "Not found")
    app = Starlette(routes, middleware=[Middleware(Guard, errors=errors, limits=limits)],
                    exception_handlers=errors.handlers())
    uvicorn.Server(uvicorn_config(app, limits, host="127.0.0.1", port=8000)).run()
"""

from bazaar.web._errors import BodyTimeout, BodyTooLarge, ErrorMap, Mapped, field_of
from bazaar.web._guard import Guard
from bazaar.web._limits import Limits
from bazaar.web._openapi import (
    ApiOperation,
    Endpoint,
    body_of,
    openapi_document,
    operation_routes,
    query_of,
    routes_by_path,
)
from bazaar.web._problem import (
    PROBLEM_JSON,
    TYPE_BASE,
    Problem,
    problem,
    problem_body,
    send_problem,
)
from bazaar.web._server import GuardedHttpTools, uvicorn_config

__all__ = [
    "PROBLEM_JSON",
    "TYPE_BASE",
    "ApiOperation",
    "BodyTimeout",
    "BodyTooLarge",
    "Endpoint",
    "ErrorMap",
    "Guard",
    "GuardedHttpTools",
    "Limits",
    "Mapped",
    "Problem",
    "body_of",
    "field_of",
    "openapi_document",
    "operation_routes",
    "problem",
    "problem_body",
    "query_of",
    "routes_by_path",
    "send_problem",
    "uvicorn_config",
]
