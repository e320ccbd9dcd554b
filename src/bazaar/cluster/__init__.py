"""Topologies of the shop, one per step of "How to scale a website to support millions of
users?": ``single`` (one process) → ``split`` (the app and its own PostgreSQL) → ``cluster``
(N app servers behind nginx) → ``replicas`` (streaming standbys serve the reads, with
read-your-writes by WAL position) → ``shards`` (users' data over K PostgreSQL servers, many
logical shards each, moved online by ``cluster reshard``). Every node is a real process,
started detached, its state under ``DATA_DIR/cluster`` and its log under
``DATA_DIR/cluster/logs``. Every
destructive operation is a plan, then an apply of exactly that plan (``plans.py``,
``applying.py``, ``operate.py``).

An edge like the CLI: it builds settings into processes, so it may use ``config`` and
``bootstrap``.
"""

from bazaar.cluster.applying import Outcome
from bazaar.cluster.errors import (
    ClusterError,
    ClusterRunning,
    NoCluster,
    NodeFailed,
    NotBuilt,
    PlanError,
    PlanRefused,
)
from bazaar.cluster.health import NodeStatus, status
from bazaar.cluster.lifecycle import cluster_dir, load, up
from bazaar.cluster.nginx import Balancer, render
from bazaar.cluster.operate import apply, down, load_plan, plan
from bazaar.cluster.plans import OPERATIONS, Plan
from bazaar.cluster.replicated import replicated_postgres
from bazaar.cluster.reshard import reshard
from bazaar.cluster.state import ClusterState, Node, alive, processes_under
from bazaar.cluster.topology import BUILT, TOPOLOGIES, ClusterSpec, spec_for

__all__ = [
    "BUILT",
    "OPERATIONS",
    "TOPOLOGIES",
    "Balancer",
    "ClusterError",
    "ClusterRunning",
    "ClusterSpec",
    "ClusterState",
    "NoCluster",
    "Node",
    "NodeFailed",
    "NodeStatus",
    "NotBuilt",
    "Outcome",
    "Plan",
    "PlanError",
    "PlanRefused",
    "alive",
    "apply",
    "cluster_dir",
    "down",
    "load",
    "load_plan",
    "plan",
    "processes_under",
    "render",
    "replicated_postgres",
    "reshard",
    "spec_for",
    "status",
    "up",
]
