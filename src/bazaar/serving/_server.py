"""Every HTTP generation for one ASGI app, in one event loop.

HTTP/1.1 stays on uvicorn (the fast server, ``bazaar.web.uvicorn_config``); HTTP/2 over TLS
(ALPN) and HTTP/3 over QUIC are hypercorn + aioquic, the only Python HTTP/3 server, on the
TLS listeners. Both servers run the *same* app object in the same loop, so state, metrics and
caches are one. The app's lifespan (gRPC beside the API) is run by uvicorn alone: hypercorn
gets the app with lifespan answered locally, else it would start everything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

from bazaar.serving._certs import TlsFiles
from bazaar.serving._listeners import TlsListeners
from bazaar.web import Limits

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: How long an h3 Alt-Svc advertisement stays valid in a client's cache.
ALT_SVC_MAX_AGE_S = 86_400


def alt_svc(port: int) -> str:
    """The ``Alt-Svc`` value that points clients at h3 on UDP ``port`` of this host."""
    return f'h3=":{port}"; ma={ALT_SVC_MAX_AGE_S}'


def without_lifespan(app: ASGIApp) -> ASGIApp:
    """``app`` whose lifespan events are acknowledged here, not passed in."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return wrapped


def hypercorn_config(listeners: TlsListeners, files: TlsFiles, limits: Limits,
                     log_level: str = "warning") -> Any:
    """A hypercorn ``Config`` serving h2 + http/1.1 (TLS) and h3 (QUIC) on ``listeners``
    under ``limits``. Every value is set on the instance: hypercorn's defaults are mutable
    class attributes shared by every config."""
    from hypercorn.config import Config

    # Duplicated descriptors: hypercorn wraps and closes its own; ours stay for the caller.
    return Config.from_mapping({
        "bind": [f"fd://{os.dup(listeners.tcp.fileno())}"],
        "insecure_bind": [],
        "quic_bind": [f"fd://{os.dup(listeners.udp.fileno())}"],
        "certfile": str(files.cert),
        "keyfile": str(files.key),
        "alpn_protocols": ["h2", "http/1.1"],
        "alt_svc_headers": [alt_svc(listeners.port)],
        "include_server_header": False,  # the same bytes as the other generations
        "keep_alive_timeout": limits.keep_alive_s,
        "read_timeout": int(max(1, limits.header_timeout_s)),
        "ssl_handshake_timeout": limits.header_timeout_s,
        "h11_max_incomplete_size": limits.max_header_bytes,
        "h2_max_header_list_size": limits.max_header_bytes,
        "h2_max_concurrent_streams": 100,
        "backlog": 2048,
        "graceful_timeout": 3.0,
        "accesslog": None,
        "errorlog": logging.getLogger("bazaar.serving"),
        "loglevel": log_level.upper(),
    })


async def serve_all(server: uvicorn.Server, sockets: list[Any], app: ASGIApp,
                    tls: Any) -> None:
    """Run ``server`` (uvicorn, HTTP/1.1 on ``sockets``) and hypercorn (``tls``: a config
    from :func:`hypercorn_config`) until uvicorn stops (Ctrl-C, TERM); then hypercorn."""
    from hypercorn.asyncio import serve

    stopped = asyncio.Event()
    wrapped: Any = without_lifespan(app)  # hypercorn's ASGI types are its own TypedDicts
    secure = asyncio.create_task(serve(wrapped, tls, mode="asgi",
                                       shutdown_trigger=stopped.wait))

    def ended(task: asyncio.Task[None]) -> None:
        if not stopped.is_set():  # hypercorn failed on its own: stop everything, re-raise
            server.should_exit = True

    secure.add_done_callback(ended)
    try:
        await server.serve(sockets=sockets)
    finally:
        stopped.set()
        with contextlib.suppress(asyncio.CancelledError):
            await secure


def run_all(server: uvicorn.Server, sockets: list[Any], app: ASGIApp, tls: Any) -> None:
    """:func:`serve_all` in a new event loop of the kind uvicorn's config asks for."""
    from uvicorn._compat import asyncio_run

    asyncio_run(serve_all(server, sockets, app, tls),
                loop_factory=server.config.get_loop_factory())


def trust_hint(files: TlsFiles, host: str, port: int) -> str:
    """How to trust the throwaway CA and reach the TLS generations, for ``bazaar up``."""
    origin = f"https://localhost:{port}" if host in ("127.0.0.1", "::1", "localhost", "0.0.0.0",
                                                        "::") else f"https://{host}:{port}"
    return (f"TLS:  {origin}/ — h2 (TCP) and h3 (QUIC, UDP {port}; Alt-Svc advertises it); "
            f"throwaway CA {files.ca_cert} (SHA-256 {files.ca_fingerprint()})\n"
            f"      trust it: curl --cacert {files.ca_cert} {origin}/health · "
            f"SSL_CERT_FILE={files.ca_cert} for httpx/requests · Debian system-wide: "
            f"cp {files.ca_cert} /usr/local/share/ca-certificates/bazaar-local.crt && "
            "update-ca-certificates · Chromium without trusting it: "
            f"--ignore-certificate-errors-spki-list={files.spki_sha256()}")
