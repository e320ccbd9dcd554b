"""The group coordinator: members, generations, rebalances, session timeouts.

States follow Kafka's: Empty → PreparingRebalance (members rejoin) → CompletingRebalance
(the leader assigns) → Stable. A join, a leave or an expired session moves a group back to
PreparingRebalance; members learn it from their next heartbeat (REBALANCE_IN_PROGRESS) and
rejoin with the member id they have, so a rebalance never forgets who is in the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from bazaar.broker._errors import ErrorCode
from bazaar.broker.protocol.apis.join_group import JoinGroupRequest, JoinGroupResponse
from bazaar.broker.protocol.apis.sync_group import SyncGroupRequest, SyncGroupResponse


class GroupState(StrEnum):
    EMPTY = "Empty"
    PREPARING = "PreparingRebalance"
    COMPLETING = "CompletingRebalance"
    STABLE = "Stable"


@dataclass
class Member:
    member_id: str
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    last_seen: float = field(default_factory=time.monotonic)
    join: asyncio.Future[JoinGroupResponse] | None = None
    sync: asyncio.Future[SyncGroupResponse] | None = None

    @property
    def waiting(self) -> bool:
        return bool(self.join and not self.join.done()) or bool(self.sync and not self.sync.done())

    def metadata_for(self, protocol: str) -> bytes:
        return next((m for name, m in self.protocols if name == protocol), b"")


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    deadline: asyncio.TimerHandle | None = None
    initial: bool = False


class GroupCoordinator:
    """Every consumer group on this broker."""

    def __init__(self, *, initial_delay_ms: int = 300, min_session_ms: int = 1000,
                 max_session_ms: int = 300_000) -> None:
        self.initial_delay_ms = initial_delay_ms
        self.min_session_ms = min_session_ms
        self.max_session_ms = max_session_ms
        self.groups: dict[str, Group] = {}

    # --- join --------------------------------------------------------------------------
    async def join(self, req: JoinGroupRequest, client_id: str,
                   client_host: str) -> JoinGroupResponse:
        if not req.group_id:
            return JoinGroupResponse(ErrorCode.INVALID_GROUP_ID)
        if not self.min_session_ms <= req.session_timeout_ms <= self.max_session_ms:
            return JoinGroupResponse(ErrorCode.INVALID_SESSION_TIMEOUT)
        group = self.groups.setdefault(req.group_id, Group(req.group_id))
        if group.members and (req.protocol_type != group.protocol_type or not self._common(
                group, [name for name, _m in req.protocols], skip=req.member_id)):
            return JoinGroupResponse(ErrorCode.INCONSISTENT_GROUP_PROTOCOL)
        if req.member_id and req.member_id not in group.members:
            return JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID, member_id=req.member_id)
        loop = asyncio.get_running_loop()
        member = group.members.get(req.member_id)
        if member is None:
            member = Member(f"{client_id or 'member'}-{uuid.uuid4()}", client_id, client_host,
                            req.session_timeout_ms, req.rebalance_timeout_ms, req.protocols)
            group.members[member.member_id] = member
        elif (group.state == GroupState.STABLE and member.protocols == req.protocols
              and member.member_id != group.leader):
            member.last_seen = time.monotonic()
            return self._join_response(group, member)
        member.protocols = req.protocols
        member.session_timeout_ms = req.session_timeout_ms
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.last_seen = time.monotonic()
        if member.join and not member.join.done():
            member.join.set_result(JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        member.join = loop.create_future()
        group.protocol_type = req.protocol_type
        if group.state != GroupState.PREPARING:
            self._prepare(group)
        self._try_complete(group)
        return await member.join

    def _common(self, group: Group, names: list[str], skip: str = "") -> list[str]:
        common = list(names)
        for m in group.members.values():
            if m.member_id != skip:
                mine = {name for name, _ in m.protocols}
                common = [n for n in common if n in mine]
        return common

    def _prepare(self, group: Group) -> None:
        loop = asyncio.get_running_loop()
        for m in group.members.values():
            if m.sync and not m.sync.done():
                m.sync.set_result(SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS))
        group.initial = group.state == GroupState.EMPTY and self.initial_delay_ms > 0
        group.state = GroupState.PREPARING
        if group.deadline:
            group.deadline.cancel()
        if group.initial:
            delay = self.initial_delay_ms / 1000
        else:
            delay = max((m.rebalance_timeout_ms for m in group.members.values()),
                        default=0) / 1000
        group.deadline = loop.call_later(delay, self._on_deadline, group)

    def _on_deadline(self, group: Group) -> None:
        group.deadline = None
        if group.state != GroupState.PREPARING:
            return
        if group.initial:
            group.initial = False
            if not self._all_joined(group):
                delay = max(m.rebalance_timeout_ms for m in group.members.values()) / 1000
                group.deadline = asyncio.get_running_loop().call_later(
                    delay, self._on_deadline, group)
                return
        for m in list(group.members.values()):  # did not rejoin in time: out
            if not (m.join and not m.join.done()):
                del group.members[m.member_id]
        self._complete(group)

    def _all_joined(self, group: Group) -> bool:
        return all(m.join and not m.join.done() for m in group.members.values())

    def _try_complete(self, group: Group) -> None:
        if group.state == GroupState.PREPARING and not group.initial and self._all_joined(group):
            self._complete(group)

    def _complete(self, group: Group) -> None:
        if group.deadline:
            group.deadline.cancel()
            group.deadline = None
        if not group.members:
            group.state = GroupState.EMPTY
            group.leader = group.protocol = ""
            group.generation += 1
            return
        group.generation += 1
        first = next(iter(group.members.values()))
        group.protocol = (self._common(group, [n for n, _ in first.protocols]) or [""])[0]
        if group.leader not in group.members:
            group.leader = first.member_id
        group.state = GroupState.COMPLETING
        for m in group.members.values():
            m.assignment = b""
            if m.join and not m.join.done():
                m.join.set_result(self._join_response(group, m))

    def _join_response(self, group: Group, member: Member) -> JoinGroupResponse:
        members = ([(m.member_id, m.metadata_for(group.protocol))
                    for m in group.members.values()] if member.member_id == group.leader else [])
        return JoinGroupResponse(ErrorCode.NONE, group.generation, group.protocol,
                                 group.leader, member.member_id, members)

    # --- sync, heartbeat, leave ---------------------------------------------------------
    def _check(self, group_id: str, member_id: str, generation: int) -> tuple[
            Group | None, Member | None, ErrorCode]:
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group else None
        if group is None or member is None:
            return group, None, ErrorCode.UNKNOWN_MEMBER_ID
        member.last_seen = time.monotonic()
        if generation != group.generation:
            return group, member, ErrorCode.ILLEGAL_GENERATION
        return group, member, ErrorCode.NONE

    async def sync(self, req: SyncGroupRequest) -> SyncGroupResponse:
        group, member, error = self._check(req.group_id, req.member_id, req.generation_id)
        if error or group is None or member is None:
            return SyncGroupResponse(error)
        if group.state == GroupState.PREPARING:
            return SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)
        if group.state == GroupState.STABLE:
            return SyncGroupResponse(ErrorCode.NONE, member.assignment)
        member.sync = asyncio.get_running_loop().create_future()
        if member.member_id == group.leader:
            assigned = dict(req.assignments)
            group.state = GroupState.STABLE
            for m in group.members.values():
                m.assignment = assigned.get(m.member_id, b"")
                m.last_seen = time.monotonic()
                if m.sync and not m.sync.done():
                    m.sync.set_result(SyncGroupResponse(ErrorCode.NONE, m.assignment))
        return await member.sync

    def heartbeat(self, group_id: str, member_id: str, generation: int) -> ErrorCode:
        group, _member, error = self._check(group_id, member_id, generation)
        if error or group is None:
            return error
        if group.state == GroupState.PREPARING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def leave(self, group_id: str, member_ids: list[str]) -> list[tuple[str, ErrorCode]]:
        group = self.groups.get(group_id)
        out: list[tuple[str, ErrorCode]] = []
        for member_id in member_ids:
            if group is None or member_id not in group.members:
                out.append((member_id, ErrorCode.UNKNOWN_MEMBER_ID))
                continue
            self._remove(group, member_id)
            out.append((member_id, ErrorCode.NONE))
        return out

    def _remove(self, group: Group, member_id: str) -> None:
        member = group.members.pop(member_id)
        if member.join and not member.join.done():
            member.join.set_result(JoinGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        if member.sync and not member.sync.done():
            member.sync.set_result(SyncGroupResponse(ErrorCode.UNKNOWN_MEMBER_ID))
        if group.state == GroupState.PREPARING:
            self._try_complete(group)
        elif group.members:
            self._prepare(group)
        else:
            self._complete(group)

    def expire(self, now: float | None = None) -> list[tuple[str, str]]:
        """Remove members whose session ran out; return (group, member) of each."""
        now = time.monotonic() if now is None else now
        gone: list[tuple[str, str]] = []
        for group in list(self.groups.values()):
            for m in list(group.members.values()):
                if not m.waiting and now - m.last_seen > m.session_timeout_ms / 1000:
                    self._remove(group, m.member_id)
                    gone.append((group.group_id, m.member_id))
        return gone

    # --- offsets gate -----------------------------------------------------------------
    def may_commit(self, group_id: str, member_id: str, generation: int) -> ErrorCode:
        """Kafka's rules for OffsetCommit: simple commits only while nobody is a member."""
        group = self.groups.get(group_id)
        if group is None or not group.members:
            return ErrorCode.NONE if generation < 0 else ErrorCode.UNKNOWN_MEMBER_ID
        if group.state == GroupState.COMPLETING:
            return ErrorCode.REBALANCE_IN_PROGRESS
        if member_id not in group.members:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ErrorCode.ILLEGAL_GENERATION
        group.members[member_id].last_seen = time.monotonic()
        return ErrorCode.NONE

    def close(self) -> None:
        for group in self.groups.values():
            if group.deadline:
                group.deadline.cancel()
            for m in group.members.values():
                for fut in (m.join, m.sync):
                    if fut and not fut.done():
                        fut.cancel()

    async def run_expiry(self, interval_s: float = 0.1) -> None:
        """Background task: expire sessions forever (cancel to stop)."""
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(interval_s)
                self.expire()
