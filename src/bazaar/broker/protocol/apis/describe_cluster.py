"""DescribeCluster (key 60), v0 (flexible from the start): the cluster id, the controller and
the brokers (one, here)."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 60
VERSIONS = (0, 0)
FLEXIBLE_FROM = 0


@dataclass(frozen=True, slots=True)
class DescribeClusterRequest:
    """Nothing to ask: authorized operations are not computed (no ACLs)."""


@dataclass(frozen=True, slots=True)
class DescribeClusterResponse:
    cluster_id: str
    controller_id: int
    brokers: list[tuple[int, str, int]]  # node id, host, port
    error_code: int = 0
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DescribeClusterRequest:
    r.boolean()  # include cluster authorized operations
    r.skip_tags()
    return DescribeClusterRequest()


def encode_response(resp: DescribeClusterResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).int16(resp.error_code)
    w.uvarint(0)  # error message: null
    w.compact_string(resp.cluster_id).int32(resp.controller_id)
    w.uvarint(len(resp.brokers) + 1)
    for node, host, port in resp.brokers:
        w.int32(node).compact_string(host).int32(port).uvarint(0).empty_tags()  # rack: null
    w.int32(-2**31)  # cluster authorized operations: not computed (Kafka's "omitted")
    return w.empty_tags().getvalue()
