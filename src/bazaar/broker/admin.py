"""Operating a broker over the Kafka protocol (aiokafka's admin client): topics and groups.

Works the same against a real Kafka cluster; ``bazaar broker topics|groups`` prints these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bazaar.broker._errors import BrokerError


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    start_offset: int
    end_offset: int


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: list[PartitionInfo]

    @property
    def messages(self) -> int:
        return sum(p.end_offset - p.start_offset for p in self.partitions)


@dataclass(frozen=True)
class MemberInfo:
    member_id: str
    client_id: str
    host: str
    assignment: list[tuple[str, int]]


@dataclass(frozen=True)
class GroupLag:
    topic: str
    partition: int
    committed: int
    end_offset: int

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.committed, 0) if self.committed >= 0 else \
            self.end_offset


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    protocol: str
    members: list[MemberInfo] = field(default_factory=list)
    offsets: list[GroupLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(o.lag for o in self.offsets)


async def _admin(bootstrap: str) -> Any:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await client.start()
    except KafkaError as exc:
        raise BrokerError(f"cannot reach {bootstrap}: {exc}") from exc
    return client


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import NewTopic

    admin = await _admin(bootstrap)
    try:
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        for topic in response.topic_errors:
            if topic[1]:
                raise BrokerError(f"create {name}: error {topic[1]} {topic[2] or ''}".strip())
    finally:
        await admin.close()


async def delete_topic(bootstrap: str, name: str) -> None:
    admin = await _admin(bootstrap)
    try:
        response = await admin.delete_topics([name])
        for topic, code in response.topic_error_codes:
            if code:
                raise BrokerError(f"delete {topic}: error {code}")
    finally:
        await admin.close()


async def _offsets(bootstrap: str, pairs: list[tuple[str, int]]
                   ) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p in pairs]
        begin = await consumer.beginning_offsets(tps) if tps else {}
        end = await consumer.end_offsets(tps) if tps else {}
        return ({(tp.topic, tp.partition): o for tp, o in begin.items()},
                {(tp.topic, tp.partition): o for tp, o in end.items()})
    finally:
        await consumer.stop()


async def list_topics(bootstrap: str, names: list[str] | None = None) -> list[TopicInfo]:
    """Topics with each partition's first and next offset."""
    admin = await _admin(bootstrap)
    try:
        # all topics, then filter: naming one in Metadata would auto-create it
        described = await admin.describe_topics(None)
    finally:
        await admin.close()
    found = [(t["topic"], sorted(p["partition"] for p in t["partitions"]))
             for t in described if t["error_code"] == 0 and (not names or t["topic"] in names)]
    missing = sorted(set(names or ()) - {t for t, _ps in found})
    if missing:
        raise BrokerError(f"unknown topic(s): {', '.join(missing)}")
    begin, end = await _offsets(bootstrap, [(t, p) for t, ps in found for p in ps])
    return [TopicInfo(t, [PartitionInfo(p, begin[(t, p)], end[(t, p)]) for p in ps])
            for t, ps in sorted(found)]


async def list_groups(bootstrap: str) -> list[str]:
    admin = await _admin(bootstrap)
    try:
        return sorted(g[0] for g in await admin.list_consumer_groups())
    finally:
        await admin.close()


def _assignment(raw: bytes) -> list[tuple[str, int]]:
    from aiokafka.protocol.group import MemberAssignment

    if not raw:
        return []
    decoded = MemberAssignment.decode(raw)
    return [(topic, p) for topic, parts in decoded.assignment for p in parts]


async def describe_group(bootstrap: str, group_id: str) -> GroupInfo:
    """Members, their assignments, and each committed partition's lag."""
    from aiokafka.structs import TopicPartition

    admin = await _admin(bootstrap)
    try:
        response = (await admin.describe_consumer_groups([group_id]))[0]
        committed: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    group = response.groups[0]
    _code, gid, state, _ptype, protocol, raw_members = group[:6]
    members = [MemberInfo(m[0], m[1], m[2], _assignment(m[4])) for m in raw_members]
    pairs = sorted((tp.topic, tp.partition) for tp in committed)
    _begin, end = await _offsets(bootstrap, pairs)
    lags = [GroupLag(t, p, committed[TopicPartition(t, p)].offset, end[(t, p)])
            for t, p in pairs]
    return GroupInfo(gid, state, protocol, members, lags)
