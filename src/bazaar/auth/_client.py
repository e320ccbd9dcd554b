"""Client side: sign every request automatically (httpx, sync and async; requests)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    import requests

from bazaar.auth._secret import Secret
from bazaar.auth._signatures import sign_request


def _as_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError("signed requests need a body of bytes or str (not a stream)")


class HttpxSigner(httpx.Auth):
    """``httpx.Client(auth=HttpxSigner(app_id, api_key))``: RFC 9421 ``hmac-sha256`` on every
    request, ``Content-Digest`` included. One flow serves sync and async clients."""

    requires_request_body = True

    def __init__(self, app_id: str, api_key: Secret[str] | str, *,
                 clock: Callable[[], float] | None = None) -> None:
        self._app_id = app_id
        key = api_key.reveal() if isinstance(api_key, Secret) else api_key
        self._secret = Secret(key.encode())
        self._clock = clock

    def __repr__(self) -> str:
        return f"HttpxSigner({self._app_id!r}, api_key=**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        created = int(self._clock()) if self._clock else None
        signed = sign_request(request.method, str(request.url), dict(request.headers),
                              request.content, keyid=self._app_id,
                              secret=self._secret.reveal(), created=created)
        request.headers.update(signed)
        yield request


class RequestsSigner:
    """``requests.get(url, auth=RequestsSigner(app_id, api_key))`` (requests accepts any
    callable as ``auth``, so this needs no import of requests)."""

    def __init__(self, app_id: str, api_key: Secret[str] | str) -> None:
        self._app_id = app_id
        key = api_key.reveal() if isinstance(api_key, Secret) else api_key
        self._secret = Secret(key.encode())

    def __repr__(self) -> str:
        return f"RequestsSigner({self._app_id!r}, api_key=**********)"

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        assert r.method is not None and r.url is not None
        signed = sign_request(r.method, r.url, dict(r.headers), _as_bytes(r.body),
                              keyid=self._app_id, secret=self._secret.reveal())
        r.headers.update(signed)
        return r


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` for httpx."""

    def __init__(self, token: str) -> None:
        self._token = Secret(token)

    def __repr__(self) -> str:
        return "BearerAuth(**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


class TokenAuth(httpx.Auth):
    """``httpx.Client(auth=TokenAuth(base_url, username, password))``: logs in on first use
    (``POST /auth/token``), sends ``Authorization: Bearer``, and on a 401 refreshes once
    (``POST /auth/refresh``, or logs in again if the refresh is refused) and retries.

    For first-party clients only: it holds the user's password. Sync and async clients alike.
    """

    requires_response_body = True

    def __init__(self, base_url: str, username: str, password: Secret[str] | str) -> None:
        self._base = base_url.rstrip("/")
        self._username = username
        self._password = password if isinstance(password, Secret) else Secret(password)
        self._access: Secret[str] | None = None
        self._refresh: Secret[str] | None = None

    def __repr__(self) -> str:
        return f"TokenAuth({self._base!r}, {self._username!r}, password=**********)"

    def _login(self) -> httpx.Request:
        return httpx.Request("POST", f"{self._base}/auth/token", json={
            "username": self._username, "password": self._password.reveal()})

    def _keep(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        data = response.json()
        self._access = Secret(str(data["access_token"]))
        self._refresh = Secret(str(data["refresh_token"]))
        return True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._access is None:
            response = yield self._login()
            if not self._keep(response):
                response.raise_for_status()
        assert self._access is not None
        request.headers["Authorization"] = f"Bearer {self._access.reveal()}"
        response = yield request
        if response.status_code != 401:
            return
        renewed = False
        if self._refresh is not None:
            refreshed = yield httpx.Request("POST", f"{self._base}/auth/refresh", json={
                "refresh_token": self._refresh.reveal()})
            renewed = self._keep(refreshed)
        if not renewed:
            relogin = yield self._login()
            if not self._keep(relogin):
                return
        assert self._access is not None
        request.headers["Authorization"] = f"Bearer {self._access.reveal()}"
        yield request
