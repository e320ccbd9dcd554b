"""Choreography over a Kafka-protocol log, for any saga: events, a transactional outbox with
its relay, idempotent consumer groups per role, and a per-saga trace. (The checkout saga's
reactions live in ``bazaar.flow.checkout.choreographed``.)"""

from bazaar.flow.choreography.events import Event
from bazaar.flow.choreography.outbox import Relay, emit, prune, seen
from bazaar.flow.choreography.runtime import Participant, Reaction, consume, run_roles
from bazaar.flow.choreography.trace import trace

__all__ = ["Event", "Participant", "Reaction", "Relay", "consume", "emit", "prune", "run_roles",
           "seen", "trace"]
