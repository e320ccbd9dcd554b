"""bazaar.auth end to end: a real uvicorn server, real HTTP clients, real Redis."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
import requests
import uvicorn
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar import localservers, web
from bazaar.auth import (
    SCOPE_KEY,
    AccessTokens,
    Argon2Params,
    AuthConfig,
    AuthSystem,
    BearerAuth,
    Credential,
    HttpxSigner,
    Passwords,
    Principal,
    RateLimit,
    RequestsSigner,
    Secret,
    TokenAuth,
    build_auth,
    exempt_paths,
)
from bazaar.processes import free_port

FAST = Argon2Params(memory_kib=1024, time_cost=1)


class Users:
    """The host app's users, behind auth's CredentialStore port."""

    def __init__(self) -> None:
        self.rows: dict[str, Credential] = {}

    def add(self, user_id: str, username: str, password: str, scopes: set[str]) -> None:
        self.rows[username] = Credential(user_id, username, Passwords(FAST).hash(password),
                                         frozenset(scopes))

    def find_by_username(self, username: str) -> Credential | None:
        return self.rows.get(username)

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        for name, c in self.rows.items():
            if c.user_id == user_id:
                self.rows[name] = Credential(c.user_id, c.username, password_hash, c.scopes)


@dataclass
class Running:
    base_url: str
    auth: AuthSystem
    users: Users


def _app(auth: AuthSystem) -> Starlette:
    async def whoami(request: Request) -> Response:
        p: Principal = request.scope[SCOPE_KEY]
        return JSONResponse({"kind": p.kind, "id": p.id, "scopes": sorted(p.scopes)})

    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"len": len(body), "by": request.scope[SCOPE_KEY].id})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    inner = Starlette(routes=[
        *auth.routes(),
        Route("/whoami", whoami), Route("/echo", echo, methods=["POST", "PUT"]),
        Route("/health", health)])
    public = exempt_paths(("GET", "/health"), ("POST", "/auth/*"),
                          ("GET", "/.well-known/jwks.json"))
    outer = Starlette()
    outer.mount("/", auth.middleware(inner, exempt=public))
    return outer


@contextlib.contextmanager
def serve(data: Path, redis_url: str | None, rate_limit: RateLimit,
          failed_auth_limit: RateLimit, redis_prefix: str | None = None) -> Iterator[Running]:
    """uvicorn in a thread on a free port, serving the guarded app."""
    port = free_port()
    engine = create_engine(f"sqlite:///{data / 'auth.db'}")
    users = Users()
    users.add("1", "ann", "correct horse battery", {"shop:read", "shop:write"})
    config = AuthConfig(public_origin=f"http://127.0.0.1:{port}", data_dir=data,
                        redis_url=redis_url, redis_prefix=redis_prefix or f"e2e{port}:",
                        argon2=FAST, rate_limit=rate_limit,
                        failed_auth_limit=failed_auth_limit)
    auth = build_auth(engine, config, users, audit=lambda outcome, **fields: None)
    server = uvicorn.Server(uvicorn.Config(_app(auth), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", auth, users)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory,
            redis_server: localservers.LocalServer) -> Iterator[Running]:
    with serve(Path(tmp_path_factory.mktemp("auth-e2e")), redis_server.url,
               RateLimit(rate=1000, burst=1000), RateLimit(rate=1, burst=200)) as r:
        yield r


PASSWORD = "correct horse battery"


def _problem(response: httpx.Response | requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    reason = response.json()["reason"]
    assert isinstance(reason, str)
    # Rendered by bazaar.web like every Bazaar problem: one type base.
    assert response.json()["type"] == f"{web.TYPE_BASE}auth/{reason}"
    return reason


def _login(base: str) -> dict[str, str]:
    r = httpx.post(f"{base}/auth/token", json={"username": "ann", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()  # type: ignore[no-any-return]


def test_login_then_bearer_access(running: Running) -> None:
    tokens = _login(running.base_url)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    me = httpx.get(f"{running.base_url}/whoami", auth=BearerAuth(tokens["access_token"]))
    assert me.json() == {"kind": "user", "id": "1", "scopes": ["shop:read", "shop:write"]}
    # OAuth 2 clients send a form; that works too.
    form = httpx.post(f"{running.base_url}/auth/token",
                      data={"grant_type": "password", "username": "ann", "password": PASSWORD})
    assert form.status_code == 200
    # `curl -d '{...}'` labels a JSON body as a form: still read as JSON.
    curl_like = httpx.post(f"{running.base_url}/auth/token",
                           content=b'{"username": "ann", "password": "' + PASSWORD.encode()
                           + b'"}', headers={"content-type": "application/x-www-form-urlencoded"})
    assert curl_like.status_code == 200, curl_like.text


def test_token_auth_logs_in_refreshes_and_retries(running: Running) -> None:
    auth = TokenAuth(running.base_url, "ann", PASSWORD)
    assert PASSWORD not in repr(auth)
    with httpx.Client(base_url=running.base_url, auth=auth) as client:
        assert client.get("/whoami").json()["id"] == "1"
        # The access token runs out: the next call refreshes and retries, invisibly.
        old = AccessTokens(running.auth.keys, lifetime=900, clock=lambda: time.time() - 2000)
        auth._access = Secret(old.issue("1", ["shop:read"], "fam")[0])
        again = client.get("/whoami")
        assert again.status_code == 200 and again.json()["id"] == "1"

    async def from_async() -> int:
        async with httpx.AsyncClient(base_url=running.base_url,
                                     auth=TokenAuth(running.base_url, "ann", PASSWORD)) as c:
            return (await c.get("/whoami")).status_code

    import asyncio

    assert asyncio.run(from_async()) == 200
    with httpx.Client(base_url=running.base_url,
                      auth=TokenAuth(running.base_url, "ann", "not the password")) as client,\
            pytest.raises(httpx.HTTPStatusError):
        client.get("/whoami")


def test_wrong_password_and_unknown_user_look_the_same(running: Running) -> None:
    wrong = httpx.post(f"{running.base_url}/auth/token",
                       json={"username": "ann", "password": "nope nope"})
    nobody = httpx.post(f"{running.base_url}/auth/token",
                        json={"username": "nobody", "password": "nope nope"})
    assert _problem(wrong, 401) == _problem(nobody, 401) == "invalid-credentials"
    assert wrong.json() == nobody.json()
    assert _problem(httpx.post(f"{running.base_url}/auth/token", json={}), 400)


def test_no_credentials_expired_and_forged_tokens_are_401(running: Running) -> None:
    base = running.base_url
    assert _problem(httpx.get(f"{base}/whoami"), 401) == "missing-credentials"
    assert httpx.get(f"{base}/health").status_code == 200  # exempt
    old = AccessTokens(running.auth.keys, lifetime=900,
                       clock=lambda: __import__("time").time() - 2000)
    expired, _ = old.issue("1", ["shop:read"], "fam")
    assert _problem(httpx.get(f"{base}/whoami", auth=BearerAuth(expired)), 401) == "expired"
    payload = jwt.decode(_login(base)["access_token"], options={"verify_signature": False})
    none = jwt.encode(payload, None, algorithm="none")
    assert _problem(httpx.get(f"{base}/whoami", auth=BearerAuth(none)), 401) == "wrong-algorithm"
    assert _problem(httpx.get(f"{base}/whoami", auth=BearerAuth("garbage")),
                    401) == "malformed-token"


def test_jwks_publishes_the_signing_key(running: Running) -> None:
    token = _login(running.base_url)["access_token"]
    jwks = httpx.get(f"{running.base_url}/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in jwks["keys"] if k["kid"] == kid]
    public = jwt.PyJWK(key).key
    assert jwt.decode(token, public, algorithms=["EdDSA"], audience="bazaar-api")["sub"] == "1"


def test_refresh_rotates_and_reuse_kills_the_session_at_once(running: Running) -> None:
    base = running.base_url
    first = _login(base)
    second = httpx.post(f"{base}/auth/refresh",
                        json={"refresh_token": first["refresh_token"]}).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert httpx.get(f"{base}/whoami", auth=BearerAuth(second["access_token"])).status_code == 200
    reuse = httpx.post(f"{base}/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert _problem(reuse, 401) == "refresh-reuse"
    # Every token of the family is dead now, the access token included.
    assert _problem(httpx.get(f"{base}/whoami", auth=BearerAuth(second["access_token"])),
                    401) == "revoked"
    assert _problem(httpx.post(f"{base}/auth/refresh",
                               json={"refresh_token": second["refresh_token"]}), 401) == "revoked"


def test_logout_revokes_at_once(running: Running) -> None:
    base = running.base_url
    tokens = _login(base)
    auth = BearerAuth(tokens["access_token"])
    assert httpx.get(f"{base}/whoami", auth=auth).status_code == 200  # claims now cached
    out = httpx.post(f"{base}/auth/revoke", auth=auth,
                     json={"refresh_token": tokens["refresh_token"]})
    assert out.json() == {"revoked": True}
    assert _problem(httpx.get(f"{base}/whoami", auth=auth), 401) == "revoked"
    assert _problem(httpx.post(f"{base}/auth/refresh",
                               json={"refresh_token": tokens["refresh_token"]}), 401) == "revoked"


def test_signed_requests_from_httpx_and_requests(running: Running) -> None:
    app = running.auth.apps.create("reporting-e2e", ["shop:read"])
    key = app.api_key.reveal()
    with httpx.Client(base_url=running.base_url, auth=HttpxSigner(app.app_id, key)) as client:
        me = client.get("/whoami?verbose=1")
        assert me.status_code == 200, me.text
        assert me.json() == {"kind": "app", "id": app.app_id, "scopes": ["shop:read"]}
        echoed = client.post("/echo", json={"sku": "A", "qty": 3})
        assert echoed.json() == {"len": len(echoed.request.content), "by": app.app_id}

    async def from_async() -> int:
        async with httpx.AsyncClient(base_url=running.base_url,
                                     auth=HttpxSigner(app.app_id, key)) as client:
            return (await client.put("/echo", content=b"raw bytes")).status_code

    import asyncio

    assert asyncio.run(from_async()) == 200
    r = requests.post(f"{running.base_url}/echo", data=b"form=1",
                      headers={"content-type": "application/x-www-form-urlencoded"},
                      auth=RequestsSigner(app.app_id, key))
    assert r.status_code == 200, r.text
    assert running.auth.apps.list()[-1].last_used_at is not None


def _signed(running: Running, app_id: str, key: str, method: str, path: str,
            body: bytes = b"") -> httpx.Request:
    request = httpx.Request(method, running.base_url + path, content=body,
                            headers={"content-type": "application/json"} if body else {})
    return next(HttpxSigner(app_id, key).auth_flow(request))


def test_replay_and_tampering_are_refused_over_http(running: Running) -> None:
    app = running.auth.apps.create("tamper-e2e", [])
    key = app.api_key.reveal()
    with httpx.Client() as client:
        request = _signed(running, app.app_id, key, "POST", "/echo?a=1", b'{"qty": 1}')
        assert client.send(request).status_code == 200
        assert _problem(client.send(request), 401) == "replayed"
        cases = {
            "path": ("POST", "/whoami?a=1", b'{"qty": 1}'),
            "query": ("POST", "/echo?a=2", b'{"qty": 1}'),
            "method": ("PUT", "/echo?a=1", b'{"qty": 1}'),
            "body": ("POST", "/echo?a=1", b'{"qty": 9}'),
        }
        for what, (method, path, body) in cases.items():
            original = _signed(running, app.app_id, key, "POST", "/echo?a=1", b'{"qty": 1}')
            forged = httpx.Request(method, running.base_url + path, content=body,
                                   headers=dict(original.headers))
            reason = _problem(client.send(forged), 401)
            assert reason in {"bad-signature", "digest-mismatch"}, what
        unknown = _signed(running, "app_0000000000000000", key, "GET", "/whoami")
        assert _problem(client.send(unknown), 401) == "unknown-key"


def test_revoked_app_key_is_refused_at_once(running: Running) -> None:
    app = running.auth.apps.create("revoke-e2e", [])
    signer = HttpxSigner(app.app_id, app.api_key.reveal())
    assert httpx.get(f"{running.base_url}/whoami", auth=signer).status_code == 200
    running.auth.apps.revoke(app.app_id)
    assert _problem(httpx.get(f"{running.base_url}/whoami", auth=signer), 401) == "unknown-key"


def test_rate_limits_answer_429_with_retry_after(
        tmp_path: Path, redis_server: localservers.LocalServer) -> None:
    with serve(tmp_path, redis_server.url, RateLimit(rate=0.01, burst=3),
               RateLimit(rate=0.001, burst=2)) as small:
        app = small.auth.apps.create("busy", [])
        signer = HttpxSigner(app.app_id, app.api_key.reveal())
        codes = [httpx.get(f"{small.base_url}/whoami", auth=signer).status_code
                 for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        limited = httpx.get(f"{small.base_url}/whoami", auth=signer)
        assert _problem(limited, 429) == "rate-limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Failed authentications have their own, stricter bucket per client address.
        bad = [httpx.get(f"{small.base_url}/whoami", auth=BearerAuth("x")) for _ in range(4)]
        assert [r.status_code for r in bad] == [401, 401, 429, 429]
        assert _problem(bad[-1], 429) == "too-many-failures"


@pytest.mark.parametrize("redis", [False, True])
def test_in_process_defaults_work_without_redis(tmp_path: Path, redis: bool,
                                                redis_server: localservers.LocalServer) -> None:
    with serve(tmp_path, redis_server.url if redis else None, RateLimit(100, 100),
               RateLimit(1, 100)) as r:
        app = r.auth.apps.create("plain", [])
        request = _signed(r, app.app_id, app.api_key.reveal(), "GET", "/whoami")
        with httpx.Client() as client:
            assert client.send(request).status_code == 200
            assert _problem(client.send(request), 401) == "replayed"


def test_failed_logins_per_account_are_shared_through_redis(
        tmp_path: Path, redis_server: localservers.LocalServer) -> None:
    """Two servers on one Redis: guesses against one account through both run out together
    (ten by default), and another account on the same servers still logs in."""
    prefix = f"e2e-shared-{tmp_path.name}:"  # one deployment: one key prefix
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with serve(tmp_path / "a", redis_server.url, RateLimit(1000, 1000),
               RateLimit(1, 1000), prefix) as a, \
            serve(tmp_path / "b", redis_server.url, RateLimit(1000, 1000),
                  RateLimit(1, 1000), prefix) as b:
        target = f"target-{tmp_path.name}"
        for r in (a, b):
            r.users.add("7", target, PASSWORD, {"shop:read"})
        codes = [httpx.post(f"{(a, b)[i % 2].base_url}/auth/token",
                            json={"username": target, "password": f"guess {i}"}).status_code
                 for i in range(12)]
        assert codes == [401] * 10 + [429] * 2
        assert _problem(httpx.post(f"{b.base_url}/auth/token",
                                   json={"username": target, "password": PASSWORD}),
                        429) == "too-many-failures"
        assert httpx.post(f"{b.base_url}/auth/token",
                          json={"username": "ann", "password": PASSWORD}).status_code == 200
