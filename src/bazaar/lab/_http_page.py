"""The http-versions lab's two ends, each run inside its namespace of the emulated network:

    python -m bazaar.lab._http_page serve ADDRESS PORT TLS_DIR OBJECTS SLOW_MS READY_FILE
    python -m bazaar.lab._http_page load ADDRESS PORT CA GENERATION REPEATS TIMEOUT_S

``serve`` is hypercorn + aioquic (``bazaar.serving``): h2 and http/1.1 over TLS, h3 over
QUIC, one port. ``/page`` is an HTML page naming OBJECTS small objects and one slow one;
``load`` fetches it like a browser — the HTML, then every object it names, as concurrently
as the generation allows — REPEATS times over fresh connections, and prints JSON: each
page load's seconds and the first response's (connection set-up plus one request).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import sys
import time
from pathlib import Path
from typing import Any

OBJECT_BYTES = 4096
GENERATIONS = ("h1.0", "h1.1", "h2", "h3")
_SRC = re.compile(r'src="([^"]+)"')


def _app(objects: int, slow_ms: float) -> Any:
    page = ("<!doctype html><title>page</title>"
            + "".join(f'<img src="/obj/{i}">' for i in range(objects))
            + '<img src="/slow"></html>').encode()
    body = bytes(range(256)) * (OBJECT_BYTES // 256)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/page":
            status, data, kind = 200, page, b"text/html"
        elif path.startswith("/obj/"):
            status, data, kind = 200, body, b"application/octet-stream"
        elif path == "/slow":
            await asyncio.sleep(slow_ms / 1000)
            status, data, kind = 200, body, b"application/octet-stream"
        else:
            status, data, kind = 404, b"not found", b"text/plain"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    return app


def serve(address: str, port: int, tls_dir: Path, objects: int, slow_ms: float,
          ready: Path) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve

    from bazaar.serving import ensure_certificates, hypercorn_config, listen_tls
    from bazaar.web import Limits

    files = ensure_certificates(tls_dir)
    listeners = listen_tls(address, port)
    config = hypercorn_config(listeners, files, Limits(keep_alive_s=60))
    ready.write_text("ready")
    asyncio.run(hypercorn_serve(_app(objects, slow_ms), config, mode="asgi"))


def _objects(html: bytes) -> list[str]:
    return _SRC.findall(html.decode())


async def _load_httpx(base: str, context: ssl.SSLContext, generation: str) -> tuple[float, float]:
    import httpx

    h2 = generation == "h2"
    keep = generation != "h1.0"
    limits = httpx.Limits(max_connections=1 if h2 else 6,
                          max_keepalive_connections=6 if keep else 0)
    headers = {} if keep else {"connection": "close"}
    started = time.perf_counter()
    async with httpx.AsyncClient(http1=not h2, http2=h2, verify=context, limits=limits,
                                 headers=headers, base_url=base) as client:
        first = await client.get("/page")
        first.raise_for_status()
        setup = time.perf_counter() - started
        want = "HTTP/2" if h2 else "HTTP/1.1"
        if first.http_version != want:
            raise RuntimeError(f"{generation}: the server answered in {first.http_version}")
        responses = await asyncio.gather(*(client.get(p) for p in _objects(first.content)))
        for r in responses:
            r.raise_for_status()
    return time.perf_counter() - started, setup


async def _load_h3(address: str, port: int, ca: Path) -> tuple[float, float]:
    from bazaar.serving import h3_client

    started = time.perf_counter()
    async with h3_client(address, port, ca=ca, server_name="localhost") as client:
        first = await client.get("/page")
        setup = time.perf_counter() - started
        responses = await asyncio.gather(*(client.get(p) for p in _objects(first.content)))
        if first.status != 200 or any(r.status != 200 for r in responses):
            raise RuntimeError("h3: a response was not 200")
    return time.perf_counter() - started, setup


async def _loads(address: str, port: int, ca: Path, generation: str, repeats: int,
                 timeout: float) -> dict[str, Any]:
    # The certificate names localhost; the server is reached by its address on the
    # emulated network, so the chain is checked against the CA and the name is not.
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    loads: list[float | None] = []
    setups: list[float | None] = []
    errors: list[str] = []
    for i in range(repeats + 1):  # the first load warms the client up and is not counted
        try:
            if generation == "h3":
                load, setup = await asyncio.wait_for(_load_h3(address, port, ca), timeout)
            else:
                load, setup = await asyncio.wait_for(
                    _load_httpx(f"https://{address}:{port}", context, generation), timeout)
            if i:
                loads.append(load)
                setups.append(setup)
        except Exception as exc:  # a failed or timed-out load is counted, not fatal
            if i:
                loads.append(None)
                setups.append(None)
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    return {"generation": generation, "loads_s": loads, "setup_s": setups, "errors": errors}


def main(argv: list[str]) -> int:
    if len(argv) == 8 and argv[1] == "serve":
        serve(argv[2], int(argv[3]), Path(argv[4]), int(argv[5]), float(argv[6]),
              Path(argv[7]))
        return 0
    if len(argv) == 8 and argv[1] == "load" and argv[5] in GENERATIONS:
        result = asyncio.run(_loads(argv[2], int(argv[3]), Path(argv[4]), argv[5],
                                    int(argv[6]), float(argv[7])))
        print(json.dumps(result))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
