"""A small app served over every HTTP generation by bazaar.serving, as a process:

    python -m tests.support.generations DATA_DIR H1_PORT TLS_PORT

``/ready`` answers this process's token (readiness proves it is ours), ``/hello`` a small
body, ``/bytes/N`` N deterministic bytes (at most 64 MiB).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar.serving import ensure_certificates, hypercorn_config, listen_tls, run_all
from bazaar.web import Limits, uvicorn_config

MAX_BYTES = 64 * 1024 * 1024


def pattern(n: int) -> bytes:
    """The body of ``/bytes/N``: every byte value in turn (a shifted or dropped chunk shows)."""
    block = bytes(range(256))
    return (block * (n // 256 + 1))[:n]


def make_app(token: str) -> Starlette:
    async def ready(request: Request) -> Response:
        return Response(token, media_type="text/plain")

    async def hello(request: Request) -> Response:
        return JSONResponse({"hello": "bazaar", "path": request.url.path,
                             "query": dict(request.query_params)})

    async def many(request: Request) -> Response:
        n = int(request.path_params["n"])
        if not 0 <= n <= MAX_BYTES:
            return Response("too many bytes", status_code=400)
        return Response(pattern(n), media_type="application/octet-stream")

    return Starlette(routes=[Route("/ready", ready), Route("/hello", hello),
                             Route("/bytes/{n:int}", many)])


def main() -> None:
    data_dir, h1_port, tls_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    token = sys.argv[4] if len(sys.argv) > 4 else "generations"
    files = ensure_certificates(data_dir / "tls")
    tls = listen_tls("127.0.0.1", tls_port)
    h1 = socket.socket()
    h1.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    h1.bind(("127.0.0.1", h1_port))
    h1.listen(128)
    app = make_app(token)
    limits = Limits()
    server = uvicorn.Server(uvicorn_config(app, limits, log_level="warning"))
    run_all(server, [h1], app, hypercorn_config(tls, files, limits))


if __name__ == "__main__":
    main()
