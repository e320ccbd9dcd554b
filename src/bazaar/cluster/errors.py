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


class PlanError(ClusterError):
    """A plan that cannot be made or read: no selector, a selector matching nothing, a
    protected node without ``--allow-protected``, an edited plan file."""


class PlanRefused(ClusterError):
    """``apply`` refused a plan and changed nothing: a target changed, the plan expired,
    the config changed, or the plan was already applied. ``reasons`` says which."""

    def __init__(self, plan_id: str, reasons: list[str]) -> None:
        super().__init__(f"plan {plan_id} refused, nothing changed: " + "; ".join(reasons))
        self.plan_id = plan_id
        self.reasons = reasons
