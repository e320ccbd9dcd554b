"""The checkout saga as choreography over a Kafka-protocol log: events, a transactional
outbox with its relay, idempotent consumers, and a per-order trace."""

from bazaar.flow.choreography.events import TOPIC, Event
from bazaar.flow.choreography.outbox import Relay, emit, seen
from bazaar.flow.choreography.runtime import ROLES, consume, run_services
from bazaar.flow.choreography.saga import Choreography, place_order
from bazaar.flow.choreography.trace import trace

__all__ = ["ROLES", "TOPIC", "Choreography", "Event", "Relay", "consume", "emit",
           "place_order", "run_services", "seen", "trace"]
