"""``--replication all|one|async`` → the primary's ``synchronous_standby_names``."""

from __future__ import annotations

import pytest

from bazaar.cluster import ClusterError, Node, spec_for
from bazaar.cluster.postgres import standby_names, sync_standby_names


def test_the_three_options_exactly() -> None:
    assert sync_standby_names("all", 2) == "FIRST 2 (s1, s2)"
    assert sync_standby_names("one", 2) == "ANY 1 (s1, s2)"
    assert sync_standby_names("async", 2) == ""
    assert sync_standby_names("all", 3) == "FIRST 3 (s1, s2, s3)"
    # after pg-standby-2 is removed, "all" waits for the standbys that are left
    left = [Node("pg-standby-1", "standby", 1, "h", 1, "", 1),
            Node("pg-standby-3", "standby", 1, "h", 1, "", 1)]
    assert sync_standby_names("all", standby_names(left)) == "FIRST 2 (s1, s3)"
    assert sync_standby_names("all", []) == ""
    with pytest.raises(ValueError, match="unknown"):
        sync_standby_names("most", 2)


def test_replication_is_checked_and_belongs_to_replicas() -> None:
    assert spec_for("replicas", replication="one").replication == "one"
    assert spec_for("replicas").replication == "async"
    with pytest.raises(ClusterError, match="must be one of"):
        spec_for("replicas", replication="quorum")
    with pytest.raises(ClusterError, match="belongs to the 'replicas'"):
        spec_for("cluster", replication="all")
