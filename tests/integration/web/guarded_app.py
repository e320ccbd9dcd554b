"""A small Starlette app behind ``bazaar.web``, served by uvicorn in its own process:
``python guarded_app.py PORT``. The attack tests talk to it over raw sockets."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar.web import ErrorMap, Guard, Limits, uvicorn_config

LIMITS = Limits(max_body=1024 * 1024, body_timeout_s=1.0, header_timeout_s=1.0,
                keep_alive_s=5.0, max_connections=50, max_header_bytes=16 * 1024, linger_s=1.0)


async def echo(request: Request) -> Response:
    """Buffers the whole body (the pattern an attacker hopes for)."""
    return JSONResponse({"received": len(await request.body())})


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


async def hello(request: Request) -> Response:
    return JSONResponse({"hello": "world"})


def app() -> Starlette:
    errors = ErrorMap.standard()
    return Starlette(routes=[Route("/echo", echo, methods=["POST"]),
                             Route("/boom", boom), Route("/hello", hello)],
                     middleware=[Middleware(Guard, errors=errors, limits=LIMITS)],
                     exception_handlers=errors.handlers())


if __name__ == "__main__":
    uvicorn.Server(uvicorn_config(app(), LIMITS, host="127.0.0.1", port=int(sys.argv[1]),
                                  log_level="warning")).run()
