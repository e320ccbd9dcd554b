"""`bazaar up --tls`: the shop itself over h1, h2 and h3, the CA made and its trust printed."""

from __future__ import annotations

import asyncio
import ssl
import stat
from pathlib import Path

import httpx

from bazaar.localservers import bazaar_up
from bazaar.processes import free_port
from bazaar.serving import TlsFiles, h3_client


def test_up_tls_serves_the_shop_over_h2_and_h3(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    with bazaar_up(data, "--no-services", "--tls", "--tls-port", str(port),
                   env={"BAZAAR_GRPC": "false", "BAZAAR_SEED_DEMO": "false"}) as shop:
        files = TlsFiles(data / "tls")
        assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
        h1 = httpx.get(f"{shop.url}/openapi.json")
        ca = ssl.create_default_context(cafile=str(files.ca_cert))
        with httpx.Client(http2=True, verify=ca) as client:
            h2 = client.get(f"https://localhost:{port}/openapi.json")
        assert h2.http_version == "HTTP/2"
        assert h2.headers["alt-svc"] == f'h3=":{port}"; ma=86400'

        async def over_h3() -> bytes:
            async with h3_client("127.0.0.1", port, ca=files.ca_cert) as client:
                r = await client.get("/openapi.json")
                assert r.status == 200
                return r.content

        h3 = asyncio.run(asyncio.wait_for(over_h3(), 60))
        assert h1.status_code == h2.status_code == 200
        assert h1.content == h2.content == h3
        assert b"openapi" in h1.content
        out = shop.output()
        assert f"https://localhost:{port}/" in out
        assert f"--cacert {files.ca_cert}" in out
        assert f"--ignore-certificate-errors-spki-list={files.spki_sha256()}" in out
        assert "PRIVATE KEY" not in out
    # Ctrl-C stops both servers and the process exits cleanly
    assert shop.process.returncode == 0, shop.output()
    assert shop.output().rstrip().endswith("stopped.")
