"""The cluster's errors: one tree, mapped to CLI messages once, in ``commands/cluster.py``."""

from __future__ import annotations


class ClusterError(Exception):
    """Base of every cluster error; the message says what to do."""


class ClusterRunning(ClusterError):
    """A cluster already runs under this data directory."""


class NoCluster(ClusterError):
    """No cluster state under this data directory."""


class NodeFailed(ClusterError):
    """A node did not come up; the message ends with the tail of its log."""


class NotBuilt(ClusterError):
    """A topology the issue names that this version does not build yet."""
