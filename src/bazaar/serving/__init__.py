"""Serving every HTTP generation for one ASGI app: HTTP/1.1 on uvicorn, HTTP/2 over TLS
(ALPN) and HTTP/3 over QUIC on hypercorn + aioquic (the ``http3`` extra), a throwaway CA and
localhost certificate, and ``Alt-Svc`` pointing clients at h3.

    files = ensure_certificates(data_dir / "tls")
    with listen_tls("127.0.0.1", 8443) as tls:
        config = hypercorn_config(tls, files, limits)
        asyncio.run(serve_all(uvicorn.Server(uvicorn_config(app, limits)), [h1_sock], app,
                              config))
"""

from bazaar.serving._certs import CertificateError, TlsFiles, ensure_certificates
from bazaar.serving._h3client import H3Client, H3Error, H3Response, h3_client
from bazaar.serving._listeners import TlsListeners, listen_tls
from bazaar.serving._server import (
    alt_svc,
    hypercorn_config,
    run_all,
    serve_all,
    trust_hint,
    without_lifespan,
)

__all__ = [
    "CertificateError",
    "H3Client",
    "H3Error",
    "H3Response",
    "TlsFiles",
    "TlsListeners",
    "alt_svc",
    "ensure_certificates",
    "h3_client",
    "hypercorn_config",
    "listen_tls",
    "run_all",
    "serve_all",
    "trust_hint",
    "without_lifespan",
]
