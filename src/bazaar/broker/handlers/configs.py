"""DescribeConfigs, AlterConfigs, IncrementalAlterConfigs for topics (the broker's own
settings are described read-only)."""

from __future__ import annotations

import logging

from bazaar.broker._errors import BrokerError, ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import alter_configs as ac
from bazaar.broker.protocol.apis import describe_configs as dc
from bazaar.broker.security.acls import CLUSTER

log = logging.getLogger("bazaar.broker")


def _broker_entries(state: BrokerState) -> list[dc.ConfigEntry]:
    cfg = state.config
    values = {"log.segment.bytes": cfg.log.segment_bytes, "log.retention.ms": cfg.log.retention_ms,
              "log.retention.bytes": cfg.log.retention_bytes,
              "num.partitions": cfg.default_partitions,
              "auto.create.topics.enable": str(cfg.auto_create_topics).lower(),
              "message.max.bytes": cfg.max_request_bytes,
              "fetch.max.bytes": cfg.fetch_max_bytes,
              "connections.max.idle.ms": cfg.connections_max_idle_ms}
    return [dc.ConfigEntry(k, "-1" if v is None else str(v), True, dc.SOURCE_STATIC)
            for k, v in values.items()]


async def describe_configs(state: BrokerState, req: dc.DescribeConfigsRequest, client: Client,
                           version: int) -> dc.DescribeConfigsResponse:
    out: list[dc.DescribedResource] = []
    allows = state.authorizer.allows
    for res in req.resources:
        kind = "topic" if res.resource_type == dc.TOPIC else "cluster"
        if not allows(client.principal, kind, res.name if kind == "topic" else CLUSTER,
                      "DESCRIBE"):
            out.append(dc.DescribedResource(_denied(kind), "not authorized",
                                            res.resource_type, res.name))
            continue
        if res.resource_type == dc.BROKER and res.name in ("", str(state.config.node_id)):
            entries = _broker_entries(state)
        elif res.resource_type == dc.TOPIC:
            try:
                entries = [dc.ConfigEntry(n, v, False,
                                          dc.SOURCE_DEFAULT if default else dc.SOURCE_TOPIC)
                           for n, v, default in state.topics.configs(res.name)]
            except BrokerError as exc:
                out.append(dc.DescribedResource(exc.code, str(exc), res.resource_type,
                                                res.name))
                continue
        else:
            out.append(dc.DescribedResource(ErrorCode.INVALID_REQUEST,
                                            "only topics and broker 0 have configs here",
                                            res.resource_type, res.name))
            continue
        if res.config_names is not None:
            wanted = set(res.config_names)
            entries = [e for e in entries if e.name in wanted]
        out.append(dc.DescribedResource(0, None, res.resource_type, res.name, entries))
    return dc.DescribeConfigsResponse(out)


async def alter_configs(state: BrokerState, req: ac.AlterConfigsRequest, client: Client,
                        version: int) -> ac.AlterConfigsResponse:
    """AlterConfigs replaces a topic's overrides; IncrementalAlterConfigs edits them."""
    out: list[tuple[int, str | None, int, str]] = []
    for res in req.resources:
        if res.resource_type != dc.TOPIC:
            out.append((ErrorCode.INVALID_REQUEST, "only topic configs can be altered",
                        res.resource_type, res.name))
            continue
        if not state.authorizer.allows(client.principal, "topic", res.name, "ALTER"):
            out.append((ErrorCode.TOPIC_AUTHORIZATION_FAILED, "not authorized",
                        res.resource_type, res.name))
            continue
        try:
            overrides = state.topics.overrides(res.name) if req.incremental else {}
            for name, op, value in res.configs:
                if op == ac.SET and value is not None:
                    overrides[name] = value
                elif op == ac.DELETE or (op == ac.SET and value is None):
                    overrides.pop(name, None)
                else:
                    raise _invalid(f"{name}: only SET and DELETE are supported")
            state.topics.set_configs(res.name, overrides, validate_only=req.validate_only)
        except BrokerError as exc:
            code = ErrorCode.INVALID_CONFIG if exc.code == ErrorCode.UNKNOWN_SERVER_ERROR \
                else exc.code
            out.append((code, str(exc), res.resource_type, res.name))
            continue
        if not req.validate_only:
            log.info("topic %s configs now %s", res.name, overrides)
        out.append((0, None, res.resource_type, res.name))
    return ac.AlterConfigsResponse(out)


def _denied(kind: str) -> int:
    return (ErrorCode.TOPIC_AUTHORIZATION_FAILED if kind == "topic"
            else ErrorCode.CLUSTER_AUTHORIZATION_FAILED)


def _invalid(message: str) -> BrokerError:
    exc = BrokerError(message)
    exc.code = ErrorCode.INVALID_CONFIG
    return exc
