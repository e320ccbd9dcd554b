"""The group coordinator's state machine, driven directly (no sockets), with short timers."""

from __future__ import annotations

import asyncio

from bazaar.broker import ErrorCode
from bazaar.broker.groups import GroupCoordinator, GroupState
from bazaar.broker.protocol.apis.join_group import JoinGroupRequest
from bazaar.broker.protocol.apis.sync_group import SyncGroupRequest


def join_req(member: str = "", session_ms: int = 1000, rebalance_ms: int = 300,
             protocols: list[tuple[str, bytes]] | None = None) -> JoinGroupRequest:
    return JoinGroupRequest("g", session_ms, rebalance_ms, member, None, "consumer",
                            protocols or [("range", b"meta")])


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_first_join_waits_the_initial_delay_then_leads_a_group_of_one() -> None:
    async def go() -> None:
        coordinator = GroupCoordinator(initial_delay_ms=50)
        resp = await coordinator.join(join_req(), "c1", "h")
        assert resp.error_code == ErrorCode.NONE
        assert resp.generation_id == 1 and resp.leader == resp.member_id
        assert resp.members == [(resp.member_id, b"meta")]
        group = coordinator.groups["g"]
        assert group.state == GroupState.COMPLETING
        sync = await coordinator.sync(SyncGroupRequest("g", 1, resp.member_id, None,
                                                       [(resp.member_id, b"assign")]))
        assert (sync.error_code, sync.assignment) == (0, b"assign")
        assert group.state == GroupState.STABLE
        assert coordinator.heartbeat("g", resp.member_id, 1) == ErrorCode.NONE
        assert coordinator.heartbeat("g", resp.member_id, 0) == ErrorCode.ILLEGAL_GENERATION
        assert coordinator.heartbeat("g", "nobody", 1) == ErrorCode.UNKNOWN_MEMBER_ID

    run(go())


def test_second_member_triggers_a_rebalance_that_both_complete() -> None:
    async def go() -> None:
        coordinator = GroupCoordinator(initial_delay_ms=10)
        a = await coordinator.join(join_req(), "a", "h")
        await coordinator.sync(SyncGroupRequest("g", 1, a.member_id, None, []))
        b_task = asyncio.create_task(coordinator.join(join_req(), "b", "h"))
        await asyncio.sleep(0.01)
        assert coordinator.heartbeat("g", a.member_id, 1) == ErrorCode.REBALANCE_IN_PROGRESS
        a2 = await coordinator.join(join_req(a.member_id), "a", "h")  # a rejoins, same id
        b = await b_task
        assert a2.generation_id == b.generation_id == 2
        assert a2.leader == a.member_id and len(a2.members) == 2 and b.members == []
        b_sync = asyncio.create_task(coordinator.sync(
            SyncGroupRequest("g", 2, b.member_id, None, [])))
        await asyncio.sleep(0)
        a_sync = await coordinator.sync(SyncGroupRequest(
            "g", 2, a.member_id, None, [(a.member_id, b"A"), (b.member_id, b"B")]))
        assert a_sync.assignment == b"A" and (await b_sync).assignment == b"B"

    run(go())


def test_leave_and_session_expiry_rebalance_the_rest() -> None:
    async def go() -> None:
        coordinator = GroupCoordinator(initial_delay_ms=10)
        t1 = asyncio.create_task(coordinator.join(join_req(), "a", "h"))
        t2 = asyncio.create_task(coordinator.join(join_req(), "b", "h"))
        a, b = await t1, await t2
        assert a.generation_id == b.generation_id == 1
        group = coordinator.groups["g"]
        results = coordinator.leave("g", [b.member_id])
        assert results == [(b.member_id, ErrorCode.NONE)]
        assert group.state == GroupState.PREPARING
        a2 = await coordinator.join(join_req(a.member_id), "a", "h")
        assert a2.generation_id == 2 and [m for m, _ in a2.members] == [a.member_id]
        await coordinator.sync(SyncGroupRequest("g", 2, a.member_id, None, []))
        # a stops heartbeating: its session (1 s) runs out
        gone = coordinator.expire(now=group.members[a.member_id].last_seen + 1.5)
        assert gone == [("g", a.member_id)]
        assert group.state == GroupState.EMPTY and not group.members

    run(go())


def test_bad_joins_are_refused_and_change_nothing() -> None:
    async def go() -> None:
        coordinator = GroupCoordinator(initial_delay_ms=0, min_session_ms=500)
        short = await coordinator.join(join_req(session_ms=10), "a", "h")
        assert short.error_code == ErrorCode.INVALID_SESSION_TIMEOUT
        unknown = await coordinator.join(join_req("ghost"), "a", "h")
        assert unknown.error_code == ErrorCode.UNKNOWN_MEMBER_ID
        a = await coordinator.join(join_req(), "a", "h")
        other = await coordinator.join(join_req(protocols=[("sticky", b"")]), "b", "h")
        assert other.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        assert list(coordinator.groups["g"].members) == [a.member_id]

    run(go())


def test_commit_gate_follows_kafka_rules() -> None:
    async def go() -> None:
        coordinator = GroupCoordinator(initial_delay_ms=0)
        assert coordinator.may_commit("new", "", -1) == ErrorCode.NONE  # simple commit
        a = await coordinator.join(join_req(), "a", "h")
        assert coordinator.may_commit("g", "", -1) == ErrorCode.REBALANCE_IN_PROGRESS
        await coordinator.sync(SyncGroupRequest("g", 1, a.member_id, None, []))
        assert coordinator.may_commit("g", a.member_id, 1) == ErrorCode.NONE
        assert coordinator.may_commit("g", a.member_id, 0) == ErrorCode.ILLEGAL_GENERATION
        assert coordinator.may_commit("g", "x", 1) == ErrorCode.UNKNOWN_MEMBER_ID

    run(go())
