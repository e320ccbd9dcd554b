"""``cluster reshard LOGICAL --to SERVER``: move one logical shard of a running ``shards``
cluster to another shard server online (:func:`bazaar.storage.resharding.move_shard`:
copy, catch up, switch). A server name that is not in the cluster yet (``pg-shard-N``) is
started first and registered in the directory — growing the cluster is moving logical shards
onto it, one at a time."""

from __future__ import annotations

from bazaar.cluster import sharded
from bazaar.cluster.errors import ClusterError, NodeFailed
from bazaar.cluster.lifecycle import Echo, cluster_dir, load, lock
from bazaar.cluster.state import alive
from bazaar.config import Settings
from bazaar.storage.resharding import STOP_POINTS, MoveReport, ReshardError, move_shard
from bazaar.storage.shards import ShardError


def reshard(settings: Settings, shard: int, target: str, echo: Echo = print,
            stop_after: str | None = None) -> MoveReport:
    """Move logical ``shard`` to shard server ``target`` (started if new)."""
    from bazaar.shop.adapters.sharded import with_shard

    if stop_after not in STOP_POINTS:
        raise ClusterError(f"--stop-after must be copy or prepare, got {stop_after!r}")
    directory = cluster_dir(settings)
    with lock(directory):
        state = load(settings)
        inventory = sharded.inventory_of(state)
        down = [n.name for n in state.nodes if not alive(n)]
        if down:
            raise ClusterError(f"not moving anything while nodes are down: {', '.join(down)}")
        nodes = {n.name: n for n in state.nodes}
        if target in nodes and nodes[target].role != "shard":
            raise ClusterError(f"{target} is the {nodes[target].role} server, not a shard "
                               "server")
        if target not in nodes:
            if not sharded.SHARD_NODE.match(target):
                raise ClusterError(f"no shard server {target!r}; name an existing one "
                                   f"({', '.join(n.name for n in state.by_role('shard'))}) "
                                   "or a new pg-shard-N to start")
            node = sharded.start_server(target, "shard", directory, directory / "logs", echo)
            state.nodes.append(node)
            state.save(directory)
            echo(f"  shard    {node.name:12} pid {node.pid:<7} {node.address} (new)")
            sharded.register(inventory, node)
        try:
            with sharded.opened(inventory) as store:
                return move_shard(store, shard, target, with_shard(shard), echo=echo,
                                  stop_after=stop_after)
        except (ReshardError, ShardError) as exc:
            raise ClusterError(str(exc)) from exc
        except Exception as exc:  # a server went away mid-move: say so, re-run settles it
            raise NodeFailed(f"moving shard {shard} failed: {exc}; run the same command "
                             "again to finish or undo it") from exc
