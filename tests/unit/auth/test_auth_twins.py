"""The authenticator's two shells — ``authenticate_now`` over in-process stores and the awaited
``authenticate`` over remote ones — take the same policy steps: one script of requests (good
and replayed signatures, bad ones up to the failure limit, a blocked client, tokens valid,
revoked and of another scheme, a principal over its rate limit) gets the same outcomes and the
same audit lines from both."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.auth import Clock, signing_keys

from bazaar.auth import (
    AccessTokens,
    AuthenticationFailed,
    Authenticator,
    Decision,
    MemoryNonceStore,
    MemoryRateLimiter,
    MemoryRevocations,
    RateLimit,
    RateLimited,
    StaticAppKeys,
    sign_request,
)

KEY = b"bzk_twins"


class RemoteRevocations:
    """The memory store behind an awaited interface, as Redis would be."""

    def __init__(self, inner: MemoryRevocations) -> None:
        self.inner = inner

    async def add(self, revoked_id: str, until: float) -> None:
        await self.inner.add(revoked_id, until)

    async def any_revoked(self, *ids: str) -> bool:
        return await self.inner.any_revoked(*ids)


class RemoteNonces:
    def __init__(self, inner: MemoryNonceStore) -> None:
        self.inner = inner

    async def remember(self, key: str, ttl: float) -> bool:
        return await self.inner.remember(key, ttl)


class RemoteLimiter:
    def __init__(self, inner: MemoryRateLimiter) -> None:
        self.inner = inner

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        return await self.inner.take(key, cost)


def _authenticator(tmp_path: Path, clock: Clock, *, remote: bool,
                   audit: Callable[..., None]) -> tuple[Authenticator, AccessTokens, Any]:
    keys = signing_keys(tmp_path / f"keys-{remote}.db", clock)
    tokens = AccessTokens(keys, lifetime=900, clock=clock)
    revocations = MemoryRevocations(clock=clock)
    nonces = MemoryNonceStore(clock=clock)
    limiter = MemoryRateLimiter(RateLimit(rate=0.001, burst=6), clock=clock)
    failed = MemoryRateLimiter(RateLimit(rate=0.001, burst=2), clock=clock)
    auth = Authenticator(
        public_origin="https://shop.example",
        apps=StaticAppKeys({"app_1": ((KEY,), frozenset({"shop:read"}))}), tokens=tokens,
        revocations=RemoteRevocations(revocations) if remote else revocations,
        nonces=RemoteNonces(nonces) if remote else nonces,
        limiter=RemoteLimiter(limiter) if remote else limiter,
        failed_limiter=RemoteLimiter(failed) if remote else failed,
        audit=audit, clock=clock)
    assert auth.in_process is not remote
    return auth, tokens, revocations


def _run(tmp_path: Path, *, remote: bool) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    clock = Clock()
    lines: list[tuple[str, dict[str, Any]]] = []
    auth, tokens, revocations = _authenticator(
        tmp_path, clock, remote=remote, audit=lambda outcome, **f: lines.append((outcome, f)))

    def signed(nonce: str) -> dict[str, str]:
        headers = sign_request("GET", "https://shop.example/x", {}, b"", keyid="app_1",
                               secret=KEY, created=int(clock.t), nonce=nonce)
        return {k.lower(): v for k, v in headers.items()}

    def send(headers: dict[str, str], client: str = "203.0.113.1") -> str:
        try:
            if remote:
                principal = asyncio.run(auth.authenticate("GET", "/x", "", headers, b"", client))
            else:
                principal = auth.authenticate_now("GET", "/x", "", headers, b"", client)
        except (AuthenticationFailed, RateLimited) as exc:
            return f"{type(exc).__name__}:{exc.reason}"
        return f"ok:{principal.id}"

    good, other = tokens.issue("u1", ["shop:read"], "fam-1")[0], tokens.issue(
        "u2", ["shop:read"], "fam-2")[0]
    asyncio.run(revocations.add(tokens.verify(other).jti, clock.t + 900))
    first = signed("n1")
    bad = {**signed("n2"), "signature": "sig1=:" + "A" * 43 + "=:"}
    script = [
        send(first, "192.0.2.1"),                         # a good signature
        send(first, "192.0.2.2"),                         # its replay
        send({"authorization": f"Bearer {good}"}),        # a good token
        send({"authorization": f"Bearer {other}"}, "192.0.2.3"),  # a revoked one
        send({"authorization": "Basic dTpw"}, "192.0.2.4"),       # no scheme we take
        send(bad, "198.51.100.7"),                        # bad signatures up to the limit…
        send(bad, "198.51.100.7"),
        send(bad, "198.51.100.7"),
        send(signed("n3"), "198.51.100.7"),               # …then even a good one is refused
        *[send({"authorization": f"Bearer {good}"}) for _ in range(6)],  # over u1's limit
    ]
    return script, lines


def test_both_shells_decide_and_audit_alike(tmp_path: Path) -> None:
    now_script, now_lines = _run(tmp_path, remote=False)
    awaited_script, awaited_lines = _run(tmp_path, remote=True)
    assert now_script == awaited_script
    assert now_lines == awaited_lines
    # and the script reached every decision, so the agreement means something
    assert now_script == [
        "ok:app_1", "SignatureError:replayed", "ok:u1", "TokenError:revoked",
        "AuthenticationFailed:missing-credentials",
        "SignatureError:bad-signature", "SignatureError:bad-signature",
        "RateLimited:too-many-failures", "RateLimited:too-many-failures",
        *["ok:u1"] * 5, "RateLimited:rate-limited"]
