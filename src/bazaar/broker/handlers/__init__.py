"""Request handlers: plain async functions (state, request, client, version) → response,
grouped by concern. ``bazaar.broker.apis.REGISTRY`` pairs each with its API key and codec."""
