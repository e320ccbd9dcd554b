"""What runs: the nodes of a cluster, written to ``DATA_DIR/cluster/state.json`` as each one
starts (so a failed ``up`` can still be taken down), and whether each pid is still the
process we started (its start time is recorded: a reused pid is not ours)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bazaar.cluster.topology import ClusterSpec

STATE_FILE = "state.json"


@dataclass
class Node:
    """One process of the cluster."""

    name: str
    #: primary, standby, app, lb
    role: str
    pid: int
    host: str
    port: int
    log: str
    #: The process's start time in clock ticks since boot (/proc/PID/stat field 22).
    started: int
    #: A PostgreSQL node's data directory, an app server's data directory.
    data: str = ""
    #: How to reach it: a database URL, an HTTP base URL.
    url: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class ClusterState:
    spec: ClusterSpec
    entry: str = ""
    nodes: list[Node] = field(default_factory=list)
    #: Made at ``up``: a plan for one cluster never applies to the next one started here.
    id: str = ""

    def by_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps({"spec": asdict(self.spec), "entry": self.entry,
                                   "id": self.id, "nodes": [asdict(n) for n in self.nodes]},
                                  indent=2))
        os.replace(tmp, directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> ClusterState | None:
        path = directory / STATE_FILE
        if not path.exists():
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(ClusterSpec(**data["spec"]), data.get("entry", ""),
                   [Node(**n) for n in data["nodes"]], str(data.get("id", "")))

    def without(self, name: str) -> None:
        """Forget node ``name`` (it was removed)."""
        self.nodes = [n for n in self.nodes if n.name != name]


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), None if there is no such process
    or it is a zombie (exited, not yet reaped)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields after it follow the last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(node: Node) -> bool:
    """Whether the node's process runs and is the one we started."""
    return start_time(node.pid) == node.started


def processes_under(directory: Path) -> list[int]:
    """Pids of live processes whose working directory or command line is under
    ``directory`` (PostgreSQL backends run in their data directory): what ``down`` must
    leave none of."""
    root = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (os.getpid(), os.getppid()):
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if (cwd == root or cwd.startswith(root + "/") or root in cmd) \
                    and start_time(int(entry.name)) is not None:
                found.append(int(entry.name))
    return sorted(found)
