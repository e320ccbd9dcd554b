"""FindCoordinator, Join/Sync/Heartbeat/LeaveGroup, OffsetCommit/Fetch, List/DescribeGroups."""

from __future__ import annotations

from bazaar.broker._errors import ErrorCode, ProtocolError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.groups import GroupState
from bazaar.broker.protocol.apis import delete_groups as dlg
from bazaar.broker.protocol.apis import describe_groups as dg
from bazaar.broker.protocol.apis import find_coordinator as fc
from bazaar.broker.protocol.apis import heartbeat as hb
from bazaar.broker.protocol.apis import join_group as jg
from bazaar.broker.protocol.apis import leave_group as lg
from bazaar.broker.protocol.apis import list_groups as lgs
from bazaar.broker.protocol.apis import offset_commit as oc
from bazaar.broker.protocol.apis import offset_delete as od
from bazaar.broker.protocol.apis import offset_fetch as of
from bazaar.broker.protocol.apis import sync_group as sg
from bazaar.broker.protocol.primitives import Reader

_DENIED = ErrorCode.GROUP_AUTHORIZATION_FAILED


def _may(state: BrokerState, client: Client, group_id: str, operation: str) -> bool:
    return state.authorizer.allows(client.principal, "group", group_id, operation)


async def find_coordinator(state: BrokerState, req: fc.FindCoordinatorRequest, client: Client,
                           version: int) -> fc.FindCoordinatorResponse:
    kind = "transactional_id" if req.key_type == 1 else "group"
    if not state.authorizer.allows(client.principal, kind, req.key, "DESCRIBE"):
        code = (ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED if req.key_type == 1
                else _DENIED)
        return fc.FindCoordinatorResponse(code, -1, "", -1, "not authorized")
    return fc.FindCoordinatorResponse(0, state.config.node_id, state.config.advertised,
                                      state.port)


async def join_group(state: BrokerState, req: jg.JoinGroupRequest, client: Client,
                     version: int) -> jg.JoinGroupResponse:
    if not _may(state, client, req.group_id, "READ"):
        return jg.JoinGroupResponse(_DENIED)
    return await state.coordinator.join(req, client.client_id, client.host)


async def sync_group(state: BrokerState, req: sg.SyncGroupRequest, client: Client,
                     version: int) -> sg.SyncGroupResponse:
    if not _may(state, client, req.group_id, "READ"):
        return sg.SyncGroupResponse(_DENIED)
    return await state.coordinator.sync(req)


async def heartbeat(state: BrokerState, req: hb.HeartbeatRequest, client: Client,
                    version: int) -> hb.HeartbeatResponse:
    if not _may(state, client, req.group_id, "READ"):
        return hb.HeartbeatResponse(_DENIED)
    return hb.HeartbeatResponse(state.coordinator.heartbeat(req.group_id, req.member_id,
                                                            req.generation_id))


async def leave_group(state: BrokerState, req: lg.LeaveGroupRequest, client: Client,
                      version: int) -> lg.LeaveGroupResponse:
    if not _may(state, client, req.group_id, "READ"):
        return lg.LeaveGroupResponse(_DENIED, [(m, _DENIED) for m in req.member_ids])
    results = state.coordinator.leave(req.group_id, req.member_ids)
    top = results[0][1] if version < 3 and results else ErrorCode.NONE
    return lg.LeaveGroupResponse(top, [(m, int(c)) for m, c in results])


async def offset_commit(state: BrokerState, req: oc.OffsetCommitRequest, client: Client,
                        version: int) -> oc.OffsetCommitResponse:
    gate = state.coordinator.may_commit(req.group_id, req.member_id, req.generation_id)
    if not req.group_id:
        gate = ErrorCode.INVALID_GROUP_ID
    elif not _may(state, client, req.group_id, "READ"):
        gate = _DENIED
    entries: list[tuple[str, int, int, str | None]] = []
    topics: list[tuple[str, list[tuple[int, int]]]] = []
    for name, partitions in req.topics:
        codes: list[tuple[int, int]] = []
        count = len(state.topics.partitions(name)) if name in state.topics else 0
        topic_ok = state.authorizer.allows(client.principal, "topic", name, "READ")
        for p in partitions:
            if gate:
                codes.append((p.index, gate))
            elif not topic_ok:
                codes.append((p.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
            elif not 0 <= p.index < count:
                codes.append((p.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION))
            else:
                entries.append((name, p.index, p.offset, p.metadata))
                codes.append((p.index, 0))
        topics.append((name, codes))
    if entries:
        state.offsets.commit(req.group_id, entries)
    return oc.OffsetCommitResponse(topics)


async def offset_fetch(state: BrokerState, req: of.OffsetFetchRequest, client: Client,
                       version: int) -> of.OffsetFetchResponse:
    if not _may(state, client, req.group_id, "DESCRIBE"):
        return of.OffsetFetchResponse([(name, [of.FetchedOffset(i, -1, "", _DENIED)
                                               for i in parts])
                                       for name, parts in req.topics or []], _DENIED)
    topic_ok = state.authorizer.allows
    if req.topics is None:
        by_topic: dict[str, list[of.FetchedOffset]] = {}
        for (topic, partition), c in sorted(state.offsets.for_group(req.group_id).items()):
            if not topic_ok(client.principal, "topic", topic, "DESCRIBE"):
                continue
            by_topic.setdefault(topic, []).append(of.FetchedOffset(partition, c.offset,
                                                                   c.metadata))
        return of.OffsetFetchResponse(list(by_topic.items()))
    topics: list[tuple[str, list[of.FetchedOffset]]] = []
    for name, partitions in req.topics:
        out: list[of.FetchedOffset] = []
        for index in partitions:
            if not topic_ok(client.principal, "topic", name, "DESCRIBE"):
                out.append(of.FetchedOffset(index, -1, "", ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            got = state.offsets.get(req.group_id, name, index)
            out.append(of.FetchedOffset(index, got.offset, got.metadata) if got
                       else of.FetchedOffset(index, -1, ""))
        topics.append((name, out))
    return of.OffsetFetchResponse(topics)


async def list_groups(state: BrokerState, req: lgs.ListGroupsRequest, client: Client,
                      version: int) -> lgs.ListGroupsResponse:
    known = {g.group_id: (g.protocol_type, str(GroupState(g.state)))
             for g in state.coordinator.groups.values()}
    for group in state.offsets.groups():
        known.setdefault(group, ("consumer", "Empty"))
    wanted = {s.lower() for s in req.states_filter}
    see_all = state.authorizer.allows_cluster(client.principal, "DESCRIBE")
    return lgs.ListGroupsResponse(0, sorted(
        (g, ptype, gstate) for g, (ptype, gstate) in known.items()
        if (not wanted or gstate.lower() in wanted)
        and (see_all or _may(state, client, g, "DESCRIBE"))))


async def describe_groups(state: BrokerState, req: dg.DescribeGroupsRequest, client: Client,
                          version: int) -> dg.DescribeGroupsResponse:
    out: list[dg.DescribedGroup] = []
    for group_id in req.groups:
        if not _may(state, client, group_id, "DESCRIBE"):
            out.append(dg.DescribedGroup(_DENIED, group_id, "", "", ""))
            continue
        group = state.coordinator.groups.get(group_id)
        if group is None:
            state_name = "Empty" if group_id in state.offsets.groups() else "Dead"
            out.append(dg.DescribedGroup(0, group_id, state_name, "", ""))
            continue
        members = [dg.DescribedMember(m.member_id, m.client_id, m.client_host,
                                      m.metadata_for(group.protocol), m.assignment)
                   for m in group.members.values()]
        out.append(dg.DescribedGroup(0, group_id, str(GroupState(group.state)),
                                     group.protocol_type, group.protocol, members))
    return dg.DescribeGroupsResponse(out)


async def delete_groups(state: BrokerState, req: dlg.DeleteGroupsRequest, client: Client,
                        version: int) -> dlg.DeleteGroupsResponse:
    """Empty groups go with their offsets; one with members is NON_EMPTY_GROUP."""
    out: list[tuple[str, int]] = []
    known = state.offsets.groups()
    for group_id in req.groups:
        if not _may(state, client, group_id, "DELETE"):
            out.append((group_id, _DENIED))
            continue
        group = state.coordinator.groups.get(group_id)
        if group is not None and group.members:
            out.append((group_id, ErrorCode.NON_EMPTY_GROUP))
            continue
        if group is None and group_id not in known:
            out.append((group_id, ErrorCode.GROUP_ID_NOT_FOUND))
            continue
        state.coordinator.groups.pop(group_id, None)
        state.offsets.forget_group(group_id)
        out.append((group_id, ErrorCode.NONE))
    return dlg.DeleteGroupsResponse(out)


def _subscribed(state: BrokerState, group_id: str) -> set[str]:
    """Topics the group's members subscribe to (ConsumerProtocolSubscription: version,
    then an array of topic names); unreadable metadata counts as every topic."""
    group = state.coordinator.groups.get(group_id)
    if group is None or not group.members:
        return set()
    topics: set[str] = set()
    for m in group.members.values():
        try:
            r = Reader(m.metadata_for(group.protocol))
            r.int16()
            topics.update(r.array(Reader.string))
        except (ProtocolError, ValueError):
            return {"*"}
    return topics


async def offset_delete(state: BrokerState, req: od.OffsetDeleteRequest, client: Client,
                        version: int) -> od.OffsetDeleteResponse:
    """Offsets of topics no member subscribes to go; the others are
    GROUP_SUBSCRIBED_TO_TOPIC, as in Kafka."""
    if not _may(state, client, req.group_id, "DELETE"):
        return od.OffsetDeleteResponse(_DENIED, [])
    known = state.offsets.groups()
    if req.group_id not in known and req.group_id not in state.coordinator.groups:
        return od.OffsetDeleteResponse(ErrorCode.GROUP_ID_NOT_FOUND, [])
    subscribed = _subscribed(state, req.group_id)
    gone: set[tuple[str, int]] = set()
    topics: list[tuple[str, list[tuple[int, int]]]] = []
    for name, partitions in req.topics:
        codes: list[tuple[int, int]] = []
        topic_ok = state.authorizer.allows(client.principal, "topic", name, "READ")
        for index in partitions:
            if not topic_ok:
                codes.append((index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
            elif name in subscribed or "*" in subscribed:
                codes.append((index, ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC))
            else:
                gone.add((name, index))
                codes.append((index, ErrorCode.NONE))
        topics.append((name, codes))
    if gone:
        state.offsets.forget_group(req.group_id, gone)
    return od.OffsetDeleteResponse(ErrorCode.NONE, topics)
