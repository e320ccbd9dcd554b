"""The one API registry: for each Kafka API key, its name, the versions we speak, the codec
that reads its requests and writes its responses, and the handler that answers it.

The connection shell decodes with it, dispatches with it and encodes with it; ApiVersions
advertises exactly what it lists. Adding an API is one line here (plus its codec module in
``protocol/apis/`` and its handler in ``handlers/``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bazaar.broker._errors import ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.handlers import (
    acls,
    cluster,
    configs,
    consume,
    groups,
    produce,
    security,
    transactions,
)
from bazaar.broker.protocol import ApiCodec, UnsupportedApiVersions
from bazaar.broker.protocol.apis import acls as acls_api
from bazaar.broker.protocol.apis import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    alter_configs,
    api_versions,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_groups,
    end_txn,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_delete,
    offset_fetch,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    txn_offset_commit,
)
from bazaar.broker.protocol.apis import produce as produce_api

Handler = Callable[[BrokerState, Any, Client, int], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Api(ApiCodec):
    """One API key: its codec (key, name, versions, decode, encode) and its handler."""

    handler: Handler


def _api(name: str, module: Any, handler: Handler) -> Api:
    return Api(module.API_KEY, name, module.VERSIONS, module.decode_request,
               module.encode_response, getattr(module, "FLEXIBLE_FROM", None), handler)


async def _api_versions(state: BrokerState, req: api_versions.ApiVersionsRequest |
                        UnsupportedApiVersions, client: Client,
                        version: int) -> api_versions.ApiVersionsResponse:
    """Our list; UNSUPPORTED_VERSION (answered in v0) when asked at a version we lack."""
    code = ErrorCode.UNSUPPORTED_VERSION if isinstance(req, UnsupportedApiVersions) else 0
    return api_versions.ApiVersionsResponse(code, supported_versions())


REGISTRY: dict[int, Api] = {api.key: api for api in (
    _api("Produce", produce_api, produce.produce),
    _api("Fetch", fetch, consume.fetch),
    _api("ListOffsets", list_offsets, consume.list_offsets),
    _api("Metadata", metadata, cluster.metadata),
    _api("OffsetCommit", offset_commit, groups.offset_commit),
    _api("OffsetFetch", offset_fetch, groups.offset_fetch),
    _api("FindCoordinator", find_coordinator, groups.find_coordinator),
    _api("JoinGroup", join_group, groups.join_group),
    _api("Heartbeat", heartbeat, groups.heartbeat),
    _api("LeaveGroup", leave_group, groups.leave_group),
    _api("SyncGroup", sync_group, groups.sync_group),
    _api("DescribeGroups", describe_groups, groups.describe_groups),
    _api("ListGroups", list_groups, groups.list_groups),
    _api("SaslHandshake", sasl_handshake, security.sasl_handshake),
    _api("ApiVersions", api_versions, _api_versions),
    _api("CreateTopics", create_topics, cluster.create_topics),
    _api("DeleteTopics", delete_topics, cluster.delete_topics),
    _api("InitProducerId", init_producer_id, cluster.init_producer_id),
    _api("AddPartitionsToTxn", add_partitions_to_txn, transactions.add_partitions_to_txn),
    _api("AddOffsetsToTxn", add_offsets_to_txn, transactions.add_offsets_to_txn),
    _api("EndTxn", end_txn, transactions.end_txn),
    _api("TxnOffsetCommit", txn_offset_commit, transactions.txn_offset_commit),
    _api("CreatePartitions", create_partitions, cluster.create_partitions),
    _api("DeleteGroups", delete_groups, groups.delete_groups),
    _api("DescribeConfigs", describe_configs, configs.describe_configs),
    _api("AlterConfigs", alter_configs, configs.alter_configs),
    _api("IncrementalAlterConfigs", incremental_alter_configs, configs.alter_configs),
    _api("DescribeCluster", describe_cluster, cluster.describe_cluster),
    _api("DeleteRecords", delete_records, consume.delete_records),
    _api("OffsetDelete", offset_delete, groups.offset_delete),
    _api("SaslAuthenticate", sasl_authenticate, security.sasl_authenticate),
    Api(acls_api.DESCRIBE_KEY, "DescribeAcls", acls_api.VERSIONS, acls_api.decode_describe,
        acls_api.encode_describe, None, acls.describe_acls),
    Api(acls_api.CREATE_KEY, "CreateAcls", acls_api.VERSIONS, acls_api.decode_create,
        acls_api.encode_create, None, acls.create_acls),
    Api(acls_api.DELETE_KEY, "DeleteAcls", acls_api.VERSIONS, acls_api.decode_delete,
        acls_api.encode_delete, None, acls.delete_acls),
)}


def supported_versions() -> list[tuple[int, int, int]]:
    """(key, min, max) for every API we answer: what ApiVersions advertises."""
    return [(a.key, a.versions[0], a.versions[1]) for a in sorted(REGISTRY.values(),
                                                                   key=lambda a: a.key)]


def api_name(key: int) -> str:
    api = REGISTRY.get(key)
    return api.name if api else f"unknown({key})"


__all__ = ["REGISTRY", "Api", "Handler", "api_name", "supported_versions"]
