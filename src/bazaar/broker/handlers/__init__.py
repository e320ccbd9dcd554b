"""Request handlers: plain functions from (state, request) to response, grouped by concern.

``HANDLERS`` maps each API key to its handler; the connection shell awaits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bazaar.broker._state import BrokerState, Client
from bazaar.broker.handlers import cluster, consume, groups, produce
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
    sync_group,
)
from bazaar.broker.protocol.apis import produce as produce_api

Handler = Callable[[BrokerState, Any, Client, int], Awaitable[Any]]

HANDLERS: dict[int, Handler] = {
    api_versions.API_KEY: cluster.api_versions,
    metadata.API_KEY: cluster.metadata,
    create_topics.API_KEY: cluster.create_topics,
    delete_topics.API_KEY: cluster.delete_topics,
    init_producer_id.API_KEY: cluster.init_producer_id,
    produce_api.API_KEY: produce.produce,
    fetch.API_KEY: consume.fetch,
    list_offsets.API_KEY: consume.list_offsets,
    find_coordinator.API_KEY: groups.find_coordinator,
    join_group.API_KEY: groups.join_group,
    sync_group.API_KEY: groups.sync_group,
    heartbeat.API_KEY: groups.heartbeat,
    leave_group.API_KEY: groups.leave_group,
    offset_commit.API_KEY: groups.offset_commit,
    offset_fetch.API_KEY: groups.offset_fetch,
    list_groups.API_KEY: groups.list_groups,
    describe_groups.API_KEY: groups.describe_groups,
}

__all__ = ["HANDLERS", "Handler"]
