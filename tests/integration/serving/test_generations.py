"""The same app over HTTP/1.1 (uvicorn), HTTP/2 over TLS and HTTP/3 over QUIC (hypercorn +
aioquic), with real clients: httpx, curl, aioquic's QUIC stack."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time

import httpx
from tests.integration.serving.conftest import Generations
from tests.support.generations import pattern

from bazaar.serving import h3_client

#: Headers that legitimately differ per server and per moment.
VOLATILE = {"date", "server", "alt-svc"}


def _same(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in VOLATILE}


def test_every_generation_answers_the_same_bytes(generations: Generations) -> None:
    path = "/hello?q=%C3%A9t%C3%A9"
    h1 = httpx.get(generations.h1 + path)
    assert h1.http_version == "HTTP/1.1"
    ca = ssl.create_default_context(cafile=str(generations.files.ca_cert))
    with httpx.Client(http2=True, verify=ca) as client:
        h2 = client.get(generations.h2 + path)
    assert h2.http_version == "HTTP/2"
    assert h2.headers["alt-svc"] == f'h3=":{generations.tls_port}"; ma=86400'

    curl = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(generations.files.ca_cert),
         "-w", "%{http_version}", "-o", "-", generations.h2 + path],
        capture_output=True, check=True, timeout=60)
    assert curl.stdout.endswith(b"2")  # curl's %{http_version} of an HTTP/2 exchange
    curl_body = curl.stdout[:-1]

    async def over_h3() -> tuple[int, dict[str, str], bytes]:
        async with h3_client("127.0.0.1", generations.tls_port,
                             ca=generations.files.ca_cert) as client:
            r = await client.get(path)
            return r.status, dict(r.headers), r.content

    status, h3_headers, h3_body = asyncio.run(asyncio.wait_for(over_h3(), 60))
    assert h1.status_code == h2.status_code == status == 200
    assert h1.content == h2.content == curl_body == h3_body
    assert b'"q":"\xc3\xa9t\xc3\xa9"' in h1.content
    assert _same(dict(h1.headers)) == _same(dict(h2.headers)) == _same(h3_headers)
    assert h3_headers["alt-svc"] == h2.headers["alt-svc"]


def test_a_20_mib_download_over_h3_completes(generations: Generations) -> None:
    size = 20 * 1024 * 1024

    async def download() -> tuple[bytes, float]:
        async with h3_client("127.0.0.1", generations.tls_port,
                             ca=generations.files.ca_cert) as client:
            t0 = time.perf_counter()
            r = await client.get(f"/bytes/{size}")
            assert r.status == 200
            return r.content, time.perf_counter() - t0

    body, seconds = asyncio.run(asyncio.wait_for(download(), 240))
    assert len(body) == size
    assert body == pattern(size)
    print(f"\n20 MiB over h3 (hypercorn + aioquic, 1200-byte datagrams): {seconds:.2f} s, "
          f"{size / seconds / 1e6:.1f} MB/s")
