"""Metadata, CreateTopics, DeleteTopics, InitProducerId (ApiVersions lives with the registry)."""

from __future__ import annotations

import logging

from bazaar.broker._errors import BrokerError, ConfigError, ErrorCode, TransactionError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import create_partitions as cp
from bazaar.broker.protocol.apis import create_topics as ct
from bazaar.broker.protocol.apis import delete_topics as dt
from bazaar.broker.protocol.apis import describe_cluster as dcl
from bazaar.broker.protocol.apis import init_producer_id as ip
from bazaar.broker.protocol.apis import metadata as md

log = logging.getLogger("bazaar.broker")
CLUSTER_ID = "bazaar-log"


def _topic_metadata(state: BrokerState, name: str) -> md.TopicMetadata:
    node = state.config.node_id
    logs = state.topics.partitions(name)
    return md.TopicMetadata(0, name, [md.PartitionMetadata(0, i, node, 0, [node], [node])
                                      for i in range(len(logs))])


async def metadata(state: BrokerState, req: md.MetadataRequest, client: Client,
                   version: int) -> md.MetadataResponse:
    cfg = state.config
    allows = state.authorizer.allows
    principal = client.principal
    if req.topics is None:  # every topic the principal may see, silently
        names = [n for n in state.topics.names() if allows(principal, "topic", n, "DESCRIBE")]
    else:
        names = req.topics
    topics: list[md.TopicMetadata] = []
    for name in names:
        if not allows(principal, "topic", name, "DESCRIBE"):
            topics.append(md.TopicMetadata(ErrorCode.TOPIC_AUTHORIZATION_FAILED, name))
            continue
        if name not in state.topics:
            if not (cfg.auto_create_topics and req.allow_auto_topic_creation
                    and _may_create(state, principal, name)):
                topics.append(md.TopicMetadata(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name))
                continue
            try:
                state.topics.create(name, cfg.default_partitions)
                log.info("auto-created topic %s (%d partitions)", name, cfg.default_partitions)
            except BrokerError as exc:
                topics.append(md.TopicMetadata(exc.code, name))
                continue
        topics.append(_topic_metadata(state, name))
    broker = md.Broker(cfg.node_id, cfg.advertised, state.port)
    return md.MetadataResponse([broker], CLUSTER_ID, cfg.node_id, topics)


def _may_create(state: BrokerState, principal: str, topic: str) -> bool:
    """CREATE on the cluster or on the topic (Kafka's rule)."""
    return (state.authorizer.allows_cluster(principal, "CREATE")
            or state.authorizer.allows(principal, "topic", topic, "CREATE"))


async def describe_cluster(state: BrokerState, req: dcl.DescribeClusterRequest,
                           client: Client, version: int) -> dcl.DescribeClusterResponse:
    node = state.config.node_id
    return dcl.DescribeClusterResponse(CLUSTER_ID, node,
                                       [(node, state.config.advertised, state.port)])


async def create_topics(state: BrokerState, req: ct.CreateTopicsRequest, client: Client,
                        version: int) -> ct.CreateTopicsResponse:
    out: list[tuple[str, int, str | None]] = []
    for topic in req.topics:
        count = topic.num_partitions
        if count == -1:
            count = len(topic.assignments) or state.config.default_partitions
        if not _may_create(state, client.principal, topic.name):
            out.append((topic.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                        "not authorized to create this topic"))
            continue
        try:
            if topic.replication_factor not in (-1, 1):
                out.append((topic.name, ErrorCode.INVALID_REPLICATION_FACTOR,
                            "a single broker holds one replica"))
                continue
            configs = {k: v for k, v in topic.configs if v is not None}
            state.topics.create(topic.name, count, configs, validate_only=req.validate_only)
            if not req.validate_only:
                log.info("created topic %s (%d partitions%s)", topic.name, count,
                         f", {configs}" if configs else "")
            out.append((topic.name, 0, None))
        except ConfigError as exc:
            out.append((topic.name, ErrorCode.INVALID_CONFIG, str(exc)))
        except BrokerError as exc:
            out.append((topic.name, exc.code, str(exc)))
    return ct.CreateTopicsResponse(out)


async def delete_topics(state: BrokerState, req: dt.DeleteTopicsRequest, client: Client,
                        version: int) -> dt.DeleteTopicsResponse:
    out: list[tuple[str, int]] = []
    for name in req.names:
        if not state.authorizer.allows(client.principal, "topic", name, "DELETE"):
            out.append((name, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
            continue
        try:
            state.topics.delete(name)
            state.offsets.forget_topic(name)
            log.info("deleted topic %s", name)
            out.append((name, 0))
        except BrokerError as exc:
            out.append((name, exc.code))
    return dt.DeleteTopicsResponse(out)


async def create_partitions(state: BrokerState, req: cp.CreatePartitionsRequest,
                            client: Client, version: int) -> cp.CreatePartitionsResponse:
    out: list[tuple[str, int, str | None]] = []
    for topic in req.topics:
        if not state.authorizer.allows(client.principal, "topic", topic.name, "ALTER"):
            out.append((topic.name, ErrorCode.TOPIC_AUTHORIZATION_FAILED,
                        "not authorized to alter this topic"))
            continue
        try:
            state.topics.add_partitions(topic.name, topic.count,
                                        validate_only=req.validate_only)
        except BrokerError as exc:
            out.append((topic.name, exc.code, str(exc)))
            continue
        if not req.validate_only:
            log.info("topic %s now has %d partitions", topic.name, topic.count)
        out.append((topic.name, 0, None))
    return cp.CreatePartitionsResponse(out)


async def init_producer_id(state: BrokerState, req: ip.InitProducerIdRequest, client: Client,
                           version: int) -> ip.InitProducerIdResponse:
    if req.transactional_id is not None:
        if not state.authorizer.allows(client.principal, "transactional_id",
                                       req.transactional_id, "WRITE"):
            return ip.InitProducerIdResponse(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                             -1, -1)
        try:
            pid, epoch = await state.transactions.init_producer_id(
                req.transactional_id, req.transaction_timeout_ms)
        except TransactionError as exc:
            return ip.InitProducerIdResponse(exc.code, -1, -1)
        return ip.InitProducerIdResponse(0, pid, epoch)
    return ip.InitProducerIdResponse(0, state.producer_ids.allocate(), 0)
