"""The control channel: out-of-order replies, remote failures, and fast failure on close."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from bazaar.functions._wire import Peer, PeerClosed, RemoteFailure

_TASKS: list[asyncio.Task[None]] = []


async def _pair() -> tuple[Peer, Peer]:
    a, b = socket.socketpair()

    async def handler(op: str, body: dict[str, Any]) -> dict[str, Any]:
        if op == "sleep":
            await asyncio.sleep(body["s"])
            return {"slept": body["s"]}
        if op == "fail":
            raise ValueError("nope")
        return {"echo": body}

    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    client, server = Peer(ra, wa), Peer(rb, wb, handler)
    _TASKS.extend([asyncio.create_task(client.serve()), asyncio.create_task(server.serve())])
    return client, server


def test_calls_are_answered_out_of_order_and_failures_come_back() -> None:
    async def main() -> None:
        client, server = await _pair()
        done: list[float] = []

        async def call(s: float) -> None:
            reply = await client.call("sleep", {"s": s})
            done.append(reply["slept"])
        await asyncio.gather(call(0.2), call(0.0))
        assert done == [0.0, 0.2]
        assert await client.call("echo", {"x": b"\x00bytes"}) == {"echo": {"x": b"\x00bytes"}}
        with pytest.raises(RemoteFailure, match="nope"):
            await client.call("fail", {})
        client.close()
        server.close()
    asyncio.run(main())


def test_pending_calls_fail_when_the_other_side_goes_away() -> None:
    async def main() -> None:
        client, server = await _pair()
        pending = asyncio.create_task(client.call("sleep", {"s": 30}))
        await asyncio.sleep(0.05)
        server.close()
        with pytest.raises(PeerClosed):
            await asyncio.wait_for(pending, 5)
        with pytest.raises(PeerClosed):
            await client.call("echo", {})
    asyncio.run(main())
