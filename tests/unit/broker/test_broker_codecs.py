"""Every codec against exact bytes, with kafka-python's protocol classes (generated from
Kafka's own JSON schemas) as the oracle: requests they encode we must decode to the same
fields, responses we encode they must decode and re-encode to the very same bytes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from kafka.protocol import admin as kadmin
from kafka.protocol import consumer as kcons
from kafka.protocol import metadata as kmeta
from kafka.protocol import producer as kprod

from bazaar.broker.apis import REGISTRY
from bazaar.broker.log import batch as rb
from bazaar.broker.protocol import decode_request, encode_response
from bazaar.broker.protocol.apis import (
    api_versions,
    create_topics,
    delete_topics,
    describe_groups,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    produce,
    sync_group,
)
from bazaar.broker.protocol.header import RequestHeader
from bazaar.broker.protocol.primitives import Reader


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def build(cls: Any, data: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> Any:
    """A kafka-python message from a nested dict, nested structs found via the JSON schema."""
    fields = cls.json["fields"] if fields is None else fields
    kwargs: dict[str, Any] = {}
    for f in fields:
        key = _snake(f["name"])
        if key not in data:
            continue
        value = data[key]
        if f["type"].startswith("[]") and "fields" in f and value is not None:
            nested = getattr(cls, f["type"][2:])
            value = [build(nested, item, f["fields"]) for item in value]
        kwargs[key] = value
    return cls(**kwargs)


def decode_body(module: Any, body: bytes, version: int) -> Any:
    r = Reader(body)
    decoded = module.decode_request(r, version)
    assert r.remaining() == 0, "decoder left bytes unread"
    return decoded


def versions(module: Any) -> list[int]:
    lo, hi = module.VERSIONS
    return list(range(lo, hi + 1))


RECORDS = rb.build([(b"k", b"v"), (None, b"w")], base_offset=0, timestamp_ms=5)


# --- requests ---------------------------------------------------------------------------
@pytest.mark.parametrize("v", versions(produce))
def test_produce_request(v: int) -> None:
    msg = build(kprod.ProduceRequest, {"transactional_id": None, "acks": -1, "timeout_ms": 1500,
                                        "topic_data": [{"name": "t", "partition_data": [
                                            {"index": 2, "records": RECORDS}]}]})
    req = decode_body(produce, bytes(msg.encode(version=v)), v)
    assert (req.acks, req.timeout_ms, req.topics[0].name) == (-1, 1500, "t")
    part = req.topics[0].partitions[0]
    assert part.index == 2 and bytes(part.records) == RECORDS


@pytest.mark.parametrize("v", versions(fetch))
def test_fetch_request(v: int) -> None:
    msg = build(kcons.FetchRequest, {
        "replica_id": -1, "max_wait_ms": 500, "min_bytes": 1, "max_bytes": 1 << 20,
        "isolation_level": 0, "session_id": 0, "session_epoch": -1,
        "topics": [{"topic": "t", "partitions": [{"partition": 3, "current_leader_epoch": -1,
                                                  "fetch_offset": 42, "log_start_offset": -1,
                                                  "partition_max_bytes": 1000}]}],
        "forgotten_topics_data": [], "rack_id": ""})
    req = decode_body(fetch, bytes(msg.encode(version=v)), v)
    assert (req.max_wait_ms, req.min_bytes, req.max_bytes) == (500, 1, 1 << 20)
    p = req.topics[0].partitions[0]
    assert (req.topics[0].name, p.index, p.fetch_offset, p.max_bytes) == ("t", 3, 42, 1000)


@pytest.mark.parametrize("v", versions(list_offsets))
def test_list_offsets_request(v: int) -> None:
    msg = build(kcons.ListOffsetsRequest, {"replica_id": -1, "isolation_level": 0, "topics": [
        {"name": "t", "partitions": [{"partition_index": 1, "current_leader_epoch": -1,
                                      "timestamp": -2}]}]})
    req = decode_body(list_offsets, bytes(msg.encode(version=v)), v)
    assert req.topics[0][0] == "t"
    assert (req.topics[0][1][0].index, req.topics[0][1][0].timestamp) == (1, -2)


@pytest.mark.parametrize("v", versions(metadata))
def test_metadata_request(v: int) -> None:
    msg = build(kmeta.MetadataRequest, {"topics": [{"name": "a"}, {"name": "b"}],
                                        "allow_auto_topic_creation": False,
                                        "include_cluster_authorized_operations": False,
                                        "include_topic_authorized_operations": False})
    req = decode_body(metadata, bytes(msg.encode(version=v)), v)
    assert req.topics == ["a", "b"]
    assert req.allow_auto_topic_creation is (v < 4)
    if v >= 1:
        everything = build(kmeta.MetadataRequest, {"topics": None,
                                                   "allow_auto_topic_creation": True})
        assert decode_body(metadata, bytes(everything.encode(version=v)), v).topics is None


@pytest.mark.parametrize("v", versions(offset_commit))
def test_offset_commit_request(v: int) -> None:
    msg = build(kcons.OffsetCommitRequest, {
        "group_id": "g", "generation_id_or_member_epoch": 3, "member_id": "m",
        "group_instance_id": None, "retention_time_ms": -1, "topics": [
            {"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 99,
                                          "committed_leader_epoch": -1,
                                          "committed_metadata": "meta"}]}]})
    req = decode_body(offset_commit, bytes(msg.encode(version=v)), v)
    assert (req.group_id, req.generation_id, req.member_id) == ("g", 3, "m")
    assert req.topics[0][1][0] == offset_commit.CommitPartition(0, 99, "meta")


@pytest.mark.parametrize("v", versions(offset_fetch))
def test_offset_fetch_request(v: int) -> None:
    msg = build(kcons.OffsetFetchRequest, {"group_id": "g", "topics": [
        {"name": "t", "partition_indexes": [0, 2]}]})
    req = decode_body(offset_fetch, bytes(msg.encode(version=v)), v)
    assert req.group_id == "g" and req.topics == [("t", [0, 2])]


@pytest.mark.parametrize("v", versions(find_coordinator))
def test_find_coordinator_request(v: int) -> None:
    msg = build(kmeta.FindCoordinatorRequest, {"key": "g", "key_type": 0})
    assert decode_body(find_coordinator, bytes(msg.encode(version=v)), v).key == "g"


@pytest.mark.parametrize("v", versions(join_group))
def test_join_group_request(v: int) -> None:
    msg = build(kcons.JoinGroupRequest, {
        "group_id": "g", "session_timeout_ms": 6000, "rebalance_timeout_ms": 9000,
        "member_id": "", "group_instance_id": None, "protocol_type": "consumer",
        "protocols": [{"name": "range", "metadata": b"\x00\x01"}]})
    req = decode_body(join_group, bytes(msg.encode(version=v)), v)
    assert (req.group_id, req.session_timeout_ms, req.protocol_type) == ("g", 6000, "consumer")
    assert req.rebalance_timeout_ms == (9000 if v >= 1 else 6000)
    assert req.protocols == [("range", b"\x00\x01")]


@pytest.mark.parametrize("v", versions(sync_group))
def test_sync_group_request(v: int) -> None:
    msg = build(kcons.SyncGroupRequest, {"group_id": "g", "generation_id": 2, "member_id": "m",
                                         "group_instance_id": None, "assignments": [
                                             {"member_id": "m", "assignment": b"\x07"}]})
    req = decode_body(sync_group, bytes(msg.encode(version=v)), v)
    assert (req.generation_id, req.assignments) == (2, [("m", b"\x07")])


@pytest.mark.parametrize("v", versions(heartbeat))
def test_heartbeat_request(v: int) -> None:
    msg = build(kcons.HeartbeatRequest, {"group_id": "g", "generation_id": 4, "member_id": "m",
                                         "group_instance_id": None})
    req = decode_body(heartbeat, bytes(msg.encode(version=v)), v)
    assert req == heartbeat.HeartbeatRequest("g", 4, "m")


@pytest.mark.parametrize("v", versions(leave_group))
def test_leave_group_request(v: int) -> None:
    msg = build(kcons.LeaveGroupRequest, {"group_id": "g", "member_id": "m", "members": [
        {"member_id": "m", "group_instance_id": None}]})
    req = decode_body(leave_group, bytes(msg.encode(version=v)), v)
    assert req == leave_group.LeaveGroupRequest("g", ["m"])


@pytest.mark.parametrize("v", versions(init_producer_id))
def test_init_producer_id_request(v: int) -> None:
    msg = build(kprod.InitProducerIdRequest, {"transactional_id": None,
                                              "transaction_timeout_ms": 60000})
    req = decode_body(init_producer_id, bytes(msg.encode(version=v)), v)
    assert req == init_producer_id.InitProducerIdRequest(None, 60000)


@pytest.mark.parametrize("v", versions(create_topics))
def test_create_topics_request(v: int) -> None:
    msg = build(kadmin.CreateTopicsRequest, {"topics": [
        {"name": "t", "num_partitions": 3, "replication_factor": 1, "assignments": [],
         "configs": [{"name": "retention.ms", "value": "1000"}]}],
        "timeout_ms": 5000, "validate_only": False})
    req = decode_body(create_topics, bytes(msg.encode(version=v)), v)
    assert (req.topics[0].name, req.topics[0].num_partitions) == ("t", 3)
    assert req.topics[0].configs == [("retention.ms", "1000")]


@pytest.mark.parametrize("v", versions(delete_topics))
def test_delete_topics_request(v: int) -> None:
    msg = build(kadmin.DeleteTopicsRequest, {"topic_names": ["a", "b"], "timeout_ms": 100})
    assert decode_body(delete_topics, bytes(msg.encode(version=v)), v).names == ["a", "b"]


@pytest.mark.parametrize("v", versions(describe_groups))
def test_describe_groups_request(v: int) -> None:
    msg = build(kadmin.DescribeGroupsRequest, {"groups": ["g"]})
    assert decode_body(describe_groups, bytes(msg.encode(version=v)), v).groups == ["g"]


@pytest.mark.parametrize("v", versions(api_versions))
def test_api_versions_request_with_header(v: int) -> None:
    msg = build(kmeta.ApiVersionsRequest, {"client_software_name": "librdkafka",
                                           "client_software_version": "2.0.2"})
    msg.with_header(correlation_id=77, client_id="cli")
    req = decode_request(bytes(msg.encode(version=v, header=True)), REGISTRY)
    assert (req.header.api_key, req.header.api_version) == (18, v)
    assert (req.header.correlation_id, req.header.client_id) == (77, "cli")
    if v >= 3:
        assert req.body.client_software_name == "librdkafka"


# --- responses ---------------------------------------------------------------------------
def roundtrip(cls: Any, body: bytes, v: int) -> Any:
    """kafka-python decodes our bytes and encodes them back to exactly the same bytes."""
    decoded = cls.decode(body, version=v)
    assert bytes(decoded.encode()) == body
    return decoded


@pytest.mark.parametrize("v", versions(produce))
def test_produce_response(v: int) -> None:
    resp = produce.ProduceResponse([produce.ProduceTopicResponse("t", [
        produce.ProducePartitionResponse(0, 0, 12, -1, 3)])])
    out = roundtrip(kprod.ProduceResponse, produce.encode_response(resp, v), v)
    part = out.responses[0].partition_responses[0]
    assert (part.index, part.error_code, part.base_offset) == (0, 0, 12)


@pytest.mark.parametrize("v", versions(fetch))
def test_fetch_response_with_inline_records(v: int) -> None:
    resp = fetch.FetchResponse([fetch.FetchTopicResponse("t", [
        fetch.FetchPartitionResponse(1, 0, 10, 0, RECORDS),
        fetch.FetchPartitionResponse(2, 1, 10, 0, None)])])
    parts = fetch.encode_response(resp, v)
    body = b"".join(p for p in parts if isinstance(p, bytes))
    decoded = kcons.FetchResponse.decode(body, version=v)
    p0 = decoded.responses[0].partitions[0]
    assert (p0.partition_index, p0.high_watermark) == (1, 10)
    assert decoded.responses[0].partitions[1].error_code == 1


def test_fetch_response_splices_file_ranges_between_bytes(tmp_path: Any) -> None:
    from bazaar.broker.log import FileRange

    data = tmp_path / "seg.log"
    data.write_bytes(b"xx" + RECORDS)
    with data.open("rb") as f:
        ranged = fetch.FetchResponse([fetch.FetchTopicResponse("t", [
            fetch.FetchPartitionResponse(0, 0, 2, 0, FileRange(f, f.fileno(), 2, len(RECORDS)))
        ])])
        inline = fetch.FetchResponse([fetch.FetchTopicResponse("t", [
            fetch.FetchPartitionResponse(0, 0, 2, 0, RECORDS)])])
        for v in versions(fetch):
            parts = fetch.encode_response(ranged, v)
            assert isinstance(parts[1], FileRange)
            spliced = b"".join(p if isinstance(p, bytes) else
                               data.read_bytes()[p.position:p.position + p.size] for p in parts)
            assert spliced == b"".join(p for p in fetch.encode_response(inline, v)
                                       if isinstance(p, bytes))
            assert fetch.parts_size(parts) == len(spliced)


@pytest.mark.parametrize("v", versions(list_offsets))
def test_list_offsets_response(v: int) -> None:
    resp = list_offsets.ListOffsetsResponse([("t", [
        list_offsets.ListOffsetsPartitionResponse(0, 0, -1, 77)])])
    out = roundtrip(kcons.ListOffsetsResponse, list_offsets.encode_response(resp, v), v)
    assert out.topics[0].partitions[0].offset == 77


@pytest.mark.parametrize("v", versions(metadata))
def test_metadata_response(v: int) -> None:
    resp = metadata.MetadataResponse([metadata.Broker(0, "127.0.0.1", 9092)], "c", 0, [
        metadata.TopicMetadata(0, "t", [metadata.PartitionMetadata(0, 0, 0, 0, [0], [0])]),
        metadata.TopicMetadata(3, "missing")])
    out = roundtrip(kmeta.MetadataResponse, metadata.encode_response(resp, v), v)
    assert (out.brokers[0].host, out.brokers[0].port) == ("127.0.0.1", 9092)
    assert [t.name for t in out.topics] == ["t", "missing"]
    assert out.topics[0].partitions[0].leader_id == 0


@pytest.mark.parametrize("v", versions(api_versions))
def test_api_versions_response(v: int) -> None:
    resp = api_versions.ApiVersionsResponse(0, [(0, 3, 8), (18, 0, 3)])
    out = roundtrip(kmeta.ApiVersionsResponse, api_versions.encode_response(resp, v), v)
    assert [(k.api_key, k.min_version, k.max_version) for k in out.api_keys] == [
        (0, 3, 8), (18, 0, 3)]


def test_unsupported_api_versions_version_is_answered_in_v0_with_error_35() -> None:
    msg = build(kmeta.ApiVersionsRequest, {"client_software_name": "x",
                                           "client_software_version": "1"})
    msg.with_header(correlation_id=9, client_id="c")
    frame = bytes(msg.encode(version=3, header=True))
    frame = frame[:2] + (4).to_bytes(2, "big") + frame[4:]  # claim v4
    req = decode_request(frame, REGISTRY)
    from bazaar.broker.protocol import UnsupportedApiVersions

    assert isinstance(req.body, UnsupportedApiVersions)
    parts = encode_response(req.header, api_versions.ApiVersionsResponse(
        35, [(18, 0, 3)]), REGISTRY)
    raw = b"".join(p for p in parts if isinstance(p, bytes))
    assert raw[4:8] == (9).to_bytes(4, "big")
    out = kmeta.ApiVersionsResponse.decode(raw[8:], version=0)
    assert out.error_code == 35 and out.api_keys[0].max_version == 3


@pytest.mark.parametrize(("module", "cls", "resp", "check"), [
    (find_coordinator, kmeta.FindCoordinatorResponse,
     find_coordinator.FindCoordinatorResponse(0, 0, "h", 9), lambda o: o.port == 9),
    (join_group, kcons.JoinGroupResponse,
     join_group.JoinGroupResponse(0, 3, "range", "m1", "m1", [("m1", b"\x01"), ("m2", b"")]),
     lambda o: o.generation_id == 3 and len(o.members) == 2),
    (sync_group, kcons.SyncGroupResponse, sync_group.SyncGroupResponse(0, b"\x05\x06"),
     lambda o: o.assignment == b"\x05\x06"),
    (heartbeat, kcons.HeartbeatResponse, heartbeat.HeartbeatResponse(27),
     lambda o: o.error_code == 27),
    (leave_group, kcons.LeaveGroupResponse, leave_group.LeaveGroupResponse(0, [("m", 0)]),
     lambda o: o.error_code == 0),
    (offset_commit, kcons.OffsetCommitResponse,
     offset_commit.OffsetCommitResponse([("t", [(0, 0), (1, 22)])]),
     lambda o: o.topics[0].partitions[1].error_code == 22),
    (offset_fetch, kcons.OffsetFetchResponse,
     offset_fetch.OffsetFetchResponse([("t", [offset_fetch.FetchedOffset(0, 5, "m")])]),
     lambda o: o.topics[0].partitions[0].committed_offset == 5),
    (init_producer_id, kprod.InitProducerIdResponse,
     init_producer_id.InitProducerIdResponse(0, 1000, 0), lambda o: o.producer_id == 1000),
    (create_topics, kadmin.CreateTopicsResponse,
     create_topics.CreateTopicsResponse([("t", 36, "exists")]),
     lambda o: o.topics[0].error_code == 36),
    (delete_topics, kadmin.DeleteTopicsResponse,
     delete_topics.DeleteTopicsResponse([("t", 0)]), lambda o: o.responses[0].name == "t"),
    (list_groups, kadmin.ListGroupsResponse,
     list_groups.ListGroupsResponse(0, [("g", "consumer", "Stable")]),
     lambda o: o.groups[0].group_id == "g"),
    (describe_groups, kadmin.DescribeGroupsResponse,
     describe_groups.DescribeGroupsResponse([describe_groups.DescribedGroup(
         0, "g", "Stable", "consumer", "range", [describe_groups.DescribedMember(
             "m", "c", "/h", b"\x01", b"\x02")])]),
     lambda o: o.groups[0].members[0].member_assignment == b"\x02"),
])
def test_small_responses(module: Any, cls: Any, resp: Any, check: Any) -> None:
    for v in versions(module):
        assert check(roundtrip(cls, module.encode_response(resp, v), v)), (module, v)


def test_every_api_has_a_handler_and_advertised_floors_match_the_clients() -> None:
    from bazaar.broker.apis import supported_versions

    assert all(callable(api.handler) for api in REGISTRY.values())
    assert [k for k, _lo, _hi in supported_versions()] == sorted(REGISTRY)
    floors = {c.name: c.versions for c in REGISTRY.values()}
    # librdkafka/kcat need these floors (see docs/broker.md); aiokafka needs the low ones
    assert floors["Fetch"][0] == 4 and floors["Produce"][0] == 3
    for name in ("JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup", "FindCoordinator"):
        assert floors[name][0] == 0
    assert floors["OffsetCommit"][0] <= 2 <= 3 <= floors["OffsetCommit"][1]


def test_response_frame_carries_size_and_correlation_id() -> None:
    header = RequestHeader(12, 0, 4242, "c")
    parts = encode_response(header, heartbeat.HeartbeatResponse(0), REGISTRY)
    raw = b"".join(p for p in parts if isinstance(p, bytes))
    assert raw == (6).to_bytes(4, "big") + (4242).to_bytes(4, "big") + b"\x00\x00"


# --- security: SASL and ACL APIs, against kafka-python's schema classes -----------------
@pytest.mark.parametrize("v", [0, 1])
def test_sasl_handshake(v: int) -> None:
    from kafka.protocol import sasl as ksasl

    from bazaar.broker.protocol.apis import sasl_handshake as sh

    msg = build(ksasl.SaslHandshakeRequest, {"mechanism": "SCRAM-SHA-256"})
    assert decode_body(sh, bytes(msg.encode(version=v)), v).mechanism == "SCRAM-SHA-256"
    out = roundtrip(ksasl.SaslHandshakeResponse, sh.encode_response(
        sh.SaslHandshakeResponse(33, ["PLAIN", "SCRAM-SHA-512"]), v), v)
    assert (out.error_code, out.mechanisms) == (33, ["PLAIN", "SCRAM-SHA-512"])


@pytest.mark.parametrize("v", [0, 1, 2])
def test_sasl_authenticate(v: int) -> None:
    from kafka.protocol import sasl as ksasl

    from bazaar.broker.protocol.apis import sasl_authenticate as sa

    msg = build(ksasl.SaslAuthenticateRequest, {"auth_bytes": b"n,,n=u,r=x"})
    assert decode_body(sa, bytes(msg.encode(version=v)), v).auth_bytes == b"n,,n=u,r=x"
    for resp in (sa.SaslAuthenticateResponse(0, None, b"r=xy,s=AAAA,i=4096"),
                 sa.SaslAuthenticateResponse(58, "Authentication failed", b"")):
        out = roundtrip(ksasl.SaslAuthenticateResponse, sa.encode_response(resp, v), v)
        assert (out.error_code, out.error_message, out.auth_bytes) == (
            resp.error_code, resp.error_message, resp.auth_bytes)


def test_acl_apis_v1() -> None:
    from bazaar.broker.protocol.apis import acls

    f = {"resource_type_filter": 2, "resource_name_filter": None, "pattern_type_filter": 1,
         "principal_filter": "User:a", "host_filter": None, "operation": 1,
         "permission_type": 1}
    got = decode_body(type("M", (), {"decode_request": staticmethod(acls.decode_describe)}),
                      bytes(build(kadmin.DescribeAclsRequest, f).encode(version=1)), 1)
    assert got.bindings == [acls.Binding(2, None, 1, "User:a", None, 1, 1)]
    creation = {"resource_type": 3, "resource_name": "g-", "resource_pattern_type": 4,
                "principal": "User:a", "host": "*", "operation": 3, "permission_type": 3}
    msg = build(kadmin.CreateAclsRequest, {"creations": [creation]})
    got = decode_body(type("M", (), {"decode_request": staticmethod(acls.decode_create)}),
                      bytes(msg.encode(version=1)), 1)
    assert got.bindings == [acls.Binding(3, "g-", 4, "User:a", "*", 3, 3)]
    msg = build(kadmin.DeleteAclsRequest, {"filters": [f]})
    got = decode_body(type("M", (), {"decode_request": staticmethod(acls.decode_delete)}),
                      bytes(msg.encode(version=1)), 1)
    assert got.bindings[0].principal == "User:a"
    b = acls.Binding(2, "t", 3, "User:a", "*", 3, 3)
    out = roundtrip(kadmin.DescribeAclsResponse,
                    acls.encode_describe(acls.DescribeAclsResponse(0, None, [b, b]), 1), 1)
    assert out.resources[0].resource_name == "t" and len(out.resources[0].acls) == 2
    out = roundtrip(kadmin.CreateAclsResponse, acls.encode_create(
        acls.CreateAclsResponse([(0, None), (42, "only ALLOW")]), 1), 1)
    assert [r.error_code for r in out.results] == [0, 42]
    out = roundtrip(kadmin.DeleteAclsResponse, acls.encode_delete(
        acls.DeleteAclsResponse([(0, None, [b])]), 1), 1)
    assert out.filter_results[0].matching_acls[0].principal == "User:a"
