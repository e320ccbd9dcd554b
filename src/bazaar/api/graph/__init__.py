"""GraphQL over the shop's services (strawberry on graphql-core): queries with Relay cursor
connections, mutations, a checkout subscription over WebSocket, DataLoaders, depth and cost
limits, native errors with ``extensions.code``."""

from bazaar.api.graph.app import graphql_routes, refusal, sdl
from bazaar.api.graph.limits import QueryLimits

__all__ = ["QueryLimits", "graphql_routes", "refusal", "sdl"]
