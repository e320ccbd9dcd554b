"""A primary and its streaming standbys, alone (no app servers): for the tests and the lab
that measure routing at the storage level, on the same servers ``cluster up replicas``
starts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bazaar.cluster import postgres
from bazaar.cluster.state import Node, alive
from bazaar.processes import free_port


@contextlib.contextmanager
def replicated_postgres(directory: Path, standbys: int = 2, delay_ms: int = 0,
                        replication: str = "async") -> Iterator[list[Node]]:
    """``[primary, standby-1, …]``, each with a database ``bazaar``; the last standby
    applies WAL ``delay_ms`` late (``recovery_min_apply_delay``); commits wait as
    ``replication`` says (:func:`postgres.set_replication`). Stopped and deleted on exit."""
    nodes: list[Node] = []
    links: list[Path] = []
    try:
        link = directory / "pg-primary"
        links.append(link)
        data = postgres.node_dir(link)
        postgres.init_primary(data)
        primary = postgres.start("pg-primary", "primary", data, free_port(),
                                 directory / "logs" / "pg-primary.log")
        nodes.append(primary)
        postgres.create_database(primary.port)
        for i in range(1, standbys + 1):
            name = f"pg-standby-{i}"
            link = directory / name
            links.append(link)
            sdata = postgres.node_dir(link)
            postgres.clone_standby(sdata, primary.port, name.replace("-", "_"))
            extra = {"cluster_name": f"'{postgres.standby_name(i)}'"}
            if delay_ms and i == standbys:
                extra["recovery_min_apply_delay"] = f"'{delay_ms}ms'"
            nodes.append(postgres.start(name, "standby", sdata, free_port(),
                                        directory / "logs" / f"{name}.log", extra))
        if replication != "async":
            postgres.set_replication(primary, replication, standbys)
        yield nodes
    finally:
        for node in reversed(nodes):
            if alive(node):
                postgres.stop(node)
        for link in links:
            postgres.remove_node_dir(link)
