"""SaslHandshake and SaslAuthenticate: the connection's SASL exchange, with failures
logged (once per host per interval), rate limited, answered, and the connection closed."""

from __future__ import annotations

import asyncio
import logging
import time

from bazaar.broker._errors import ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import sasl_authenticate as sa
from bazaar.broker.protocol.apis import sasl_handshake as sh
from bazaar.broker.security import AuthFailure

log = logging.getLogger("bazaar.broker")


async def sasl_handshake(state: BrokerState, req: sh.SaslHandshakeRequest, client: Client,
                         version: int) -> sh.SaslHandshakeResponse:
    session = client.sasl
    enabled = list(state.config.sasl_mechanisms)
    if session is None:  # a listener without SASL
        return sh.SaslHandshakeResponse(ErrorCode.UNSUPPORTED_SASL_MECHANISM, [])
    if session.mechanism is not None:  # a second handshake on this connection
        client.close_after = True
        return sh.SaslHandshakeResponse(ErrorCode.ILLEGAL_SASL_STATE, enabled)
    if version == 0:  # v0 means unframed tokens next, which this broker does not read
        client.close_after = True
        log.warning("closing connection from %s: SaslHandshake v0 (unframed SASL tokens "
                    "are not supported; clients since Kafka 1.0 use v1)", client.host)
        return sh.SaslHandshakeResponse(ErrorCode.UNSUPPORTED_VERSION, enabled)
    if not session.handshake(req.mechanism):
        client.close_after = True
        return sh.SaslHandshakeResponse(ErrorCode.UNSUPPORTED_SASL_MECHANISM, enabled)
    return sh.SaslHandshakeResponse(ErrorCode.NONE, enabled)


async def sasl_authenticate(state: BrokerState, req: sa.SaslAuthenticateRequest,
                            client: Client, version: int) -> sa.SaslAuthenticateResponse:
    session = client.sasl
    if session is None or session.mechanism is None or session.principal is not None:
        client.close_after = True
        return sa.SaslAuthenticateResponse(ErrorCode.ILLEGAL_SASL_STATE,
                                           "SaslAuthenticate not expected now", b"")
    try:
        if session.mechanism == "PLAIN":  # hashing the password takes milliseconds
            answer = await asyncio.to_thread(session.step, req.auth_bytes)
        else:
            answer = session.step(req.auth_bytes)
    except AuthFailure as exc:
        client.close_after = True
        state.metrics.auth_failures += 1
        unlogged = state.auth_failures.should_log(client.host, time.monotonic())
        if unlogged is not None:
            more = f" ({unlogged} more from this host since the last report)" if unlogged \
                else ""
            log.warning("authentication failed from %s: %s%s", client.host, exc, more)
        await state.auth_failures.penalize(client.host)
        return sa.SaslAuthenticateResponse(ErrorCode.SASL_AUTHENTICATION_FAILED,
                                           "Authentication failed: invalid credentials or "
                                           "malformed SASL message", b"")
    if session.principal is not None:
        state.metrics.auth_successes += 1
        log.info("authenticated %s from %s with %s", session.principal, client.host,
                 session.mechanism)
    return sa.SaslAuthenticateResponse(ErrorCode.NONE, None, answer)
