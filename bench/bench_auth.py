"""Auth benchmark: what each scheme costs per request, against baselines measured in the same run.

1. Verifying a typical signed request (POST, JSON body, 6 covered components, created + nonce):
   ours (pure verify, and the whole authenticate step) vs one raw HMAC-SHA256 of the signature
   base vs the reference library ``http-message-signatures``. Signing likewise.
2. Bearer tokens: PyJWT EdDSA verify vs our cached verify (+ revocation check).
3. A whole ASGI request ``GET /products/{id}`` (Starlette; the product read by primary key from
   SQLite through SQLAlchemy Core, as the shop does), called without a server: unauthenticated
   vs bearer vs signed.
4. The real shop app over HTTP (uvicorn in its own process, wrk): GET /products/1 requests/s
   with the identity given for free vs a Bearer token vs signed (each signed request unique:
   pre-signed, fed to wrk by a Lua script), cached and uncached.

Run: ``./dev bench auth --quick``. CPU microseconds are ``time.process_time`` per call.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KEY = b"bzk_bench-key-0123456789abcdefghijklmnopq"
APP = "app_bench000000000000"
ORIGIN = "http://127.0.0.1:8000"
BODY = json.dumps({"product_id": 42, "quantity": 2, "note": "gift wrap, please"}).encode()


def _us(fn: Callable[[], object], n: int, repeats: int = 5) -> float:
    """Median CPU µs per call over ``repeats`` runs of ``n`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            fn()
        runs.append((time.process_time() - start) / n * 1e6)
    return statistics.median(runs)


def _signed_headers(method: str, url: str, body: bytes, nonce: str | None = None) -> dict[str, str]:
    from bazaar.auth import sign_request

    headers = {"content-type": "application/json"} if body else {}
    signed = sign_request(method, url, headers, body, keyid=APP, secret=KEY, nonce=nonce)
    return {**headers, **{k.lower(): v for k, v in signed.items()}}


def bench_signatures(quick: bool) -> dict[str, float]:
    import httpx
    from http_message_signatures import (
        HTTPMessageSigner,
        HTTPMessageVerifier,
        MappingKeyResolver,
        algorithms,
    )

    from bazaar.auth import (
        Authenticator,
        MemoryNonceStore,
        MemoryRateLimiter,
        MemoryRevocations,
        RateLimit,
        SignaturePolicy,
        SignedRequest,
        StaticAppKeys,
        parse_signature_input,
        sign_request,
        signature_base,
        verify,
    )

    n = 2000 if quick else 20000
    url = f"{ORIGIN}/orders?expand=items"
    headers = _signed_headers("POST", url, BODY, nonce="bench-nonce")
    parts = urlsplit(url)
    req = SignedRequest("POST", "http", "127.0.0.1:8000", parts.path, parts.query, headers)
    keys = {APP: (KEY,)}
    policy = SignaturePolicy(max_age=1e9)
    si = parse_signature_input(headers["signature-input"])
    base = signature_base(si.components, si.params_text, req)

    raw = _us(lambda: hmac.digest(KEY, base, hashlib.sha256), n * 5)
    ours = _us(lambda: verify(req, BODY, keys.get, policy=policy), n)

    apps = StaticAppKeys({APP: ((KEY,), frozenset({"shop:read"}))})
    authenticator = Authenticator(
        public_origin=ORIGIN, apps=apps, tokens=None, revocations=MemoryRevocations(),
        nonces=MemoryNonceStore(), limiter=MemoryRateLimiter(RateLimit(1e12, 1e12)),
        failed_limiter=MemoryRateLimiter(RateLimit(1e12, 1e12)),
        audit=lambda outcome, **fields: None)
    # Unique nonces, as real traffic has: pre-sign outside the timed loop.
    presigned = [_signed_headers("POST", url, BODY) for _ in range(n)]

    async def authenticate_all() -> float:
        start = time.process_time()
        for h in presigned:
            await authenticator.authenticate("POST", "/orders", "expand=items", h, BODY)
        return (time.process_time() - start) / len(presigned) * 1e6

    full = asyncio.run(authenticate_all())

    resolver = MappingKeyResolver(public_keys={APP: KEY}, private_keys={APP: KEY})
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                   key_resolver=resolver)
    ref_request = httpx.Request("POST", url, content=BODY, headers=headers)
    ref_n = max(200, n // 10)
    reference = _us(lambda: verifier.verify(ref_request, body=BODY), ref_n)

    signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=resolver)

    def ref_sign() -> None:
        r = httpx.Request("POST", url, content=BODY, headers={"content-type": "application/json"})
        signer.sign(r, key_id=APP, nonce="n", body=BODY, covered_component_ids=(
            "@method", "@authority", "@path", "@query", "content-type"))

    ref_sign_us = _us(ref_sign, ref_n)
    ours_sign = _us(lambda: sign_request("POST", url, {"content-type": "application/json"},
                                         BODY, keyid=APP, secret=KEY), n)
    print(f"signature base: {len(base)} bytes; body {len(BODY)} bytes")
    print(f"{'verify a signed POST':44s} {'µs CPU':>10s} {'x raw HMAC':>11s}")
    for name, v in [("raw HMAC-SHA256 of the signature base", raw),
                    ("ours: verify (parse, base, HMAC, digest)", ours),
                    ("ours: whole authenticate (+nonce, limiter)", full),
                    ("reference http-message-signatures verify", reference)]:
        print(f"  {name:42s} {v:10.1f} {v / raw:11.1f}")
    print(f"  reference verify / ours = {reference / ours:.0f}x; "
          f"ours within 5x of raw HMAC: {ours / raw <= 5}; under 50 µs: {full < 50}")
    print(f"{'sign a POST':44s} {'µs CPU':>10s}")
    print(f"  {'ours: sign_request (digest + signature)':42s} {ours_sign:10.1f}")
    print(f"  {'reference sign':42s} {ref_sign_us:10.1f}   ({ref_sign_us / ours_sign:.0f}x ours)")
    return {"raw_hmac_us": raw, "verify_us": ours, "authenticate_us": full,
            "reference_verify_us": reference, "sign_us": ours_sign,
            "reference_sign_us": ref_sign_us}


def _bearer_parts(tmp: Path) -> tuple[object, str]:
    import secrets

    from sqlalchemy import create_engine

    from bazaar.auth import AccessTokens, MasterKey, SigningKeys, install

    engine = create_engine(f"sqlite:///{tmp / f'bench-{secrets.token_hex(4)}.db'}")
    install(engine)
    keys = SigningKeys(engine, MasterKey.generate(), token_lifetime=900)
    tokens = AccessTokens(keys, lifetime=900)
    token, _ = tokens.issue("7", ["shop:read"], "fam")
    return tokens, token


def bench_tokens(quick: bool, tmp: Path) -> dict[str, float]:
    import jwt

    from bazaar.auth import AccessTokens, MemoryRevocations

    tokens, token = _bearer_parts(tmp)
    assert isinstance(tokens, AccessTokens)
    n = 500 if quick else 5000
    kid = jwt.get_unverified_header(token)["kid"]
    public = tokens._keys.public_key(kid)
    pyjwt = _us(lambda: jwt.decode(token, public, algorithms=["EdDSA"],  # type: ignore[arg-type]
                                   audience=tokens.audience), n)
    revocations = MemoryRevocations()

    async def cached_all(count: int) -> float:
        start = time.process_time()
        for _ in range(count):
            claims = tokens.verify(token)
            await revocations.any_revoked(claims.jti, claims.fid)
        return (time.process_time() - start) / count * 1e6

    cached = asyncio.run(cached_all(n * 10))
    print(f"{'bearer token':44s} {'µs CPU':>10s}")
    print(f"  {'PyJWT EdDSA decode (every request)':42s} {pyjwt:10.1f}")
    print(f"  {'ours: cached claims + revocation check':42s} {cached:10.1f}   "
          f"({pyjwt / cached:.0f}x cheaper)")
    return {"pyjwt_eddsa_us": pyjwt, "cached_bearer_us": cached}


def _app(mode: str, tmp: Path) -> tuple[object, dict[str, str]]:
    """The bench app: GET /products/{id} from SQLite, guarded per ``mode``."""
    import secrets

    from sqlalchemy import (
        Column,
        Integer,
        MetaData,
        String,
        Table,
        bindparam,
        create_engine,
        insert,
        select,
    )
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bazaar.auth import (
        AccessTokens,
        Authenticator,
        AuthMiddleware,
        JsonLinesAudit,
        MemoryNonceStore,
        MemoryRateLimiter,
        MemoryRevocations,
        RateLimit,
        StaticAppKeys,
    )

    # Like the shop: a product row read by primary key through SQLAlchemy Core from SQLite.
    meta = MetaData()
    table = Table("products", meta, Column("id", Integer, primary_key=True),
                  Column("name", String), Column("price_cents", Integer),
                  Column("stock", Integer))
    engine = create_engine(f"sqlite:///{tmp / f'products-{secrets.token_hex(4)}.db'}")
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "name": f"product {i}", "price_cents": 100 * i,
                                      "stock": 10} for i in range(1, 101)])
    query = select(table).where(table.c.id == bindparam("pid"))

    async def product(request: Request) -> JSONResponse:
        with engine.connect() as conn:
            row = conn.execute(query, {"pid": int(request.path_params["pid"])}).one()
        return JSONResponse(dict(row._mapping))

    inner = Starlette(routes=[Route("/products/{pid:int}", product)])
    headers: dict[str, str] = {}
    if mode == "none":
        return inner, headers
    tokens, token = _bearer_parts(tmp)
    assert isinstance(tokens, AccessTokens)
    headers = {"authorization": f"Bearer {token}"}
    authenticator = Authenticator(
        public_origin=ORIGIN, apps=StaticAppKeys({APP: ((KEY,), frozenset({"shop:read"}))}),
        tokens=tokens, revocations=MemoryRevocations(), nonces=MemoryNonceStore(),
        limiter=MemoryRateLimiter(RateLimit(1e12, 1e12)),
        failed_limiter=MemoryRateLimiter(RateLimit(1e12, 1e12)),
        # The shop's audit trail: JSON lines, buffered (here into /dev/null).
        audit=JsonLinesAudit(open(os.devnull, "wb")))  # noqa: SIM115
    return AuthMiddleware(inner, authenticator=authenticator), headers


def _quiet_structlog() -> None:
    """Audit lines rendered as JSON lines (their real cost: orjson, epoch timestamps, the
    production set-up we recommend) into /dev/null."""
    import orjson
    import structlog

    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(),
                    structlog.processors.JSONRenderer(serializer=orjson.dumps)],
        logger_factory=structlog.BytesLoggerFactory(open(os.devnull, "wb")),  # noqa: SIM115
        cache_logger_on_first_use=True)


def bench_asgi(quick: bool, tmp: Path) -> dict[str, float]:
    _quiet_structlog()
    n = 1000 if quick else 10000
    results: dict[str, float] = {}
    for mode in ("none", "bearer", "signed"):
        app, headers = _app(mode, tmp)
        if mode == "signed":
            header_sets = [_signed_headers("GET", f"{ORIGIN}/products/7", b"") for _ in range(n)]
        else:
            header_sets = [headers] * n

        async def run_all(app: object = app, header_sets: list[dict[str, str]] = header_sets
                          ) -> float:
            sent: list[int] = []

            async def receive() -> dict[str, object]:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict[str, object]) -> None:
                if message["type"] == "http.response.start":
                    sent.append(int(message["status"]))  # type: ignore[call-overload]

            start = time.process_time()
            for h in header_sets:
                scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                         "method": "GET", "scheme": "http", "path": "/products/7",
                         "raw_path": b"/products/7", "query_string": b"", "root_path": "",
                         "headers": [(k.encode(), v.encode()) for k, v in h.items()],
                         "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
                await app(scope, receive, send)  # type: ignore[operator]
            elapsed = (time.process_time() - start) / len(header_sets) * 1e6
            assert set(sent) == {200}, set(sent)
            return elapsed

        results[mode] = asyncio.run(run_all())
    base = results["none"]
    print(f"{'ASGI GET /products/7, no server':44s} {'µs CPU':>10s} {'added':>9s}")
    for mode, v in results.items():
        print(f"  {mode:42s} {v:10.1f} {v - base:8.1f}µs")
    return {f"asgi_{k}_us": v for k, v in results.items()}


def bench_shop_inprocess(quick: bool, tmp: Path) -> dict[str, float]:
    """The shop's own app (``bootstrap.build_app``), called in-process, no server: CPU µs per
    cached ``GET /products/1`` with the identity given for free, with a Bearer token, and signed
    (a fresh signature each). What the HTTP runs measure, without uvicorn and wrk's noise; the
    loop yields to the event loop every 32 requests, as a server does."""
    from bazaar import bootstrap
    from bazaar.api import create_app
    from bazaar.auth import SCOPE_KEY, Principal, sign_request
    from bazaar.config import Settings

    n = 5000 if quick else 20000
    tmp.mkdir(parents=True, exist_ok=True)
    token, app_id, api_key = _prepare_shop(tmp)
    settings = Settings(data_dir=tmp / "shop", public_origin=ORIGIN, rate_limit_per_s=1e9,
                        rate_limit_burst=1e9, failed_auth_burst=1e9, log_level="warning")
    runtime = bootstrap.build(settings)
    guarded = bootstrap.build_app(runtime)
    who = Principal(kind="user", id="1", scopes=frozenset({"shop:read", "shop:write"}),
                    scheme="bearer")

    def identity(inner: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope[SCOPE_KEY] = who
            await inner(scope, receive, send)
        return app

    free = create_app(runtime.shop, identity=identity,
                      health=bootstrap.health_check(runtime.engine))
    base = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk")]
    bearer = [*base, (b"authorization", f"Bearer {token}".encode())]

    def signed() -> list[tuple[bytes, bytes]]:
        h = sign_request("GET", f"{ORIGIN}/products/1", {}, b"", keyid=app_id,
                         secret=api_key.encode())
        return [*base, *((k.lower().encode(), v.encode()) for k, v in h.items())]

    async def run(app: Any, header_sets: list[list[tuple[bytes, bytes]]]) -> float:
        statuses: list[int] = []

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
            return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                    "method": "GET", "scheme": "http", "path": "/products/1",
                    "raw_path": b"/products/1", "query_string": b"", "root_path": "",
                    "headers": headers, "client": ("127.0.0.1", 5000),
                    "server": ("127.0.0.1", 8000)}

        for headers in header_sets[:100]:  # warm: the cache, the token and key caches
            await app(scope(headers), receive, send)
        timed = header_sets[100:]
        start = time.process_time()
        for i, headers in enumerate(timed):
            await app(scope(headers), receive, send)
            if i % 32 == 0:
                await asyncio.sleep(0)
        elapsed = (time.process_time() - start) / len(timed) * 1e6
        assert set(statuses) == {200}, set(statuses)
        return elapsed

    results: dict[str, list[float]] = {"free": [], "bearer": [], "signed": []}
    try:
        for _ in range(3):
            results["free"].append(asyncio.run(run(free, [base] * (n + 100))))
            results["bearer"].append(asyncio.run(run(guarded, [bearer] * (n + 100))))
            results["signed"].append(asyncio.run(run(guarded, [signed() for _ in range(n + 100)])))
    finally:
        runtime.close()
    best = {k: min(v) for k, v in results.items()}
    print(f"{'the shop app in-process, cached GET /products/1':44s} {'µs CPU':>10s} {'added':>9s}")
    for mode, v in best.items():
        print(f"  {mode:42s} {v:10.1f} {v - best['free']:8.1f}µs")
    return {f"shop_inprocess_{k}_us": v for k, v in best.items()}


_WRK_LUA = """
local lines = {}
local idx = 0
local step = 1
function setup(thread)
  thread:set("tid", #threads_seen + 1)
  table.insert(threads_seen, thread)
end
threads_seen = {}
function init(args)
  local f = io.open(args[1], "r")
  local n = 0
  local me = tonumber(tid) or 1
  local nthreads = tonumber(args[2])
  for line in f:lines() do
    n = n + 1
    if n % nthreads == me - 1 then
      local si, sig, cd = line:match("([^\\t]+)\\t([^\\t]+)\\t([^\\t]+)")
      table.insert(lines, wrk.format("GET", args[3],
        {["Signature-Input"] = si, ["Signature"] = sig, ["Content-Digest"] = cd}))
    end
  end
  f:close()
end
function request()
  idx = idx + 1
  if idx > #lines then idx = 1 end
  return lines[idx]
end
"""


def _wrk(url: str, seconds: int, options: list[str], script_args: list[str]
         ) -> tuple[float, int]:
    argv = ["wrk", "-t2", "-c32", f"-d{seconds}s", *options, url]
    if script_args:
        argv += ["--", *script_args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk failed: {out[-500:]} {done.stderr[-500:]}")
    rps = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def _start_server(mode: str, tmp: Path) -> tuple[subprocess.Popen[str], int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, __file__, "serve", mode, str(port), str(tmp)],
                            stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while True:  # wait until uvicorn accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the bench server did not start") from None
            time.sleep(0.05)


def _prepare_shop(tmp: Path) -> tuple[str, str, str]:
    """Migrate and seed the shop's SQLite database; a Bearer token for the demo user and an
    app (APP ID, API key) that may read the catalogue."""
    from bazaar import bootstrap
    from bazaar.config import Settings

    runtime = bootstrap.build(Settings(data_dir=tmp / "shop"))
    try:
        bootstrap.migrate_database(runtime)
        demo = bootstrap.seed(runtime).demo_password
        assert demo is not None
        auth = bootstrap.build_auth(runtime)
        token = asyncio.run(auth.server.login("demo", demo)).access_token
        app = auth.apps.create("bench", ["shop:read"])
        return token, app.app_id, app.api_key.reveal()
    finally:
        runtime.close()


def bench_http(quick: bool, tmp: Path) -> dict[str, float]:
    """The real shop app (bootstrap) under wrk, one uvicorn worker each: GET /products/1 with the
    identity given for free (a fixed principal: the ceiling), with a Bearer token, and signed —
    on the cached read path (bazaar.cache in front of SQLite, the shop's cheapest request) and
    on the uncached one (a SQLite query per request). Six servers up at once; wrk rounds
    alternate between them (the machine is shared and noisy: medians of interleaved rounds)."""
    if shutil.which("wrk") is None:
        print("wrk not installed (apt-get install wrk): skipping the HTTP part")
        return {}
    from bazaar.auth import sign_request

    seconds, rounds = (2, 5) if quick else (5, 7)
    token, app_id, api_key = _prepare_shop(tmp)
    modes = tuple(f"{who}-{path}" for path in ("cached", "uncached")
                  for who in ("free", "bearer", "signed"))
    servers = {mode: _start_server(mode, tmp) for mode in modes}
    lua = tmp / "signed.lua"
    lua.write_text(_WRK_LUA)
    rps: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        for r in range(rounds):
            for mode in modes:
                _proc, port = servers[mode]
                url = f"http://127.0.0.1:{port}/products/1"
                options: list[str] = []
                script: list[str] = []
                if mode.startswith("bearer"):
                    options = ["-H", f"Authorization: Bearer {token}"]
                elif mode.startswith("signed"):
                    # Every signed request is single-use (nonce): a fresh set each round.
                    # More than wrk can send: a wrapped-around (replayed) request would be a
                    # cheap 401 and flatter the figure.
                    lines_path = tmp / f"signed-{mode}-{r}.tsv"
                    count = seconds * (40000 if mode.endswith("-cached") else 10000)
                    with lines_path.open("w") as f:
                        for _ in range(count):
                            h = sign_request("GET", url, {}, b"", keyid=app_id,
                                             secret=api_key.encode())
                            f.write(f"{h['Signature-Input']}\t{h['Signature']}\t"
                                    f"{h['Content-Digest']}\n")
                    options, script = ["-s", str(lua)], [str(lines_path), "2", "/products/1"]
                value, bad = _wrk(url, seconds, options, script)
                if bad:  # refusals are cheap: such a round does not measure the real path
                    print(f"  warning: {mode} round {r}: {bad} non-2xx responses (dropped)")
                    continue
                rps[mode].append(value)
    finally:
        for proc, _port in servers.values():
            proc.terminate()
            proc.wait(10)
    results = {mode: statistics.median(values) for mode, values in rps.items() if values}
    if len(results) < len(modes):
        print("  not enough clean rounds to compare")
        return {}
    for mode, value in results.items():
        runs = ", ".join(f"{v:.0f}" for v in rps[mode])
        print(f"  shop {mode:16s} {value:10.0f} req/s   (rounds: {runs})")
    for path in ("cached", "uncached"):
        for who in ("bearer", "signed"):
            cost = 1 - results[f"{who}-{path}"] / results[f"free-{path}"]
            print(f"  {who} on the {path} read: {cost * 100:.1f}% fewer req/s than "
                  "identity-for-free (target < 10%)")
    return {f"shop_{k}_rps": v for k, v in results.items()}


def serve(mode: str, port: int, tmp: Path) -> None:
    """Child process: the shop app, guarded per ``mode``, under uvicorn."""
    import uvicorn

    from bazaar import bootstrap
    from bazaar.api import create_app
    from bazaar.auth import SCOPE_KEY, Principal
    from bazaar.config import Settings

    _quiet_structlog()
    settings = Settings(data_dir=tmp / "shop", public_origin=f"http://127.0.0.1:{port}",
                        rate_limit_per_s=1e9, rate_limit_burst=1e9, failed_auth_burst=1e9,
                        log_level="warning")
    runtime = bootstrap.build(settings)
    if mode.endswith("-uncached"):
        from bazaar.shop.services import DirectReader, NoInvalidation

        runtime.shop.catalog_reader = DirectReader(runtime.shop.queries)
        runtime.shop.invalidation = NoInvalidation()
    if mode.startswith("free"):
        who = Principal(kind="user", id="1", scopes=frozenset({"shop:read", "shop:write"}),
                        scheme="bearer")

        def identity(inner: Any) -> Any:
            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope[SCOPE_KEY] = who
                await inner(scope, receive, send)
            return app

        app: Any = create_app(runtime.shop, identity=identity,
                              health=bootstrap.health_check(runtime.engine))
    else:
        app = bootstrap.build_app(runtime)
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="error", access_log=False, lifespan="off")


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-auth-") as d:
        tmp = Path(d)
        summary = {**bench_signatures(quick), **bench_tokens(quick, tmp),
                   **bench_asgi(quick, tmp), **bench_shop_inprocess(quick, tmp / "inproc")}
        print("the shop's GET /products/1 over HTTP (uvicorn, one worker; wrk -t2 -c32):")
        summary.update(bench_http(quick, tmp))
    print(json.dumps({k: round(v, 2) for k, v in summary.items()}))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        serve(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv)
