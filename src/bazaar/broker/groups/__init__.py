"""Consumer groups: the coordinator (membership, rebalances) and durable committed offsets."""

from bazaar.broker.groups.coordinator import Group, GroupCoordinator, GroupState, Member
from bazaar.broker.groups.offsets import Committed, OffsetStore

__all__ = ["Committed", "Group", "GroupCoordinator", "GroupState", "Member", "OffsetStore"]
