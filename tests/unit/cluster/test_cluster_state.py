"""Which processes are the cluster's: a pid counts only with its recorded start time (a
reused pid is someone else's), and ``processes_under`` finds what runs in a directory."""

from __future__ import annotations

from pathlib import Path

from bazaar.cluster import ClusterSpec, ClusterState, Node, alive, processes_under
from bazaar.cluster.state import start_time
from bazaar.processes import Child


def test_a_pid_is_ours_only_with_its_start_time(tmp_path: Path) -> None:
    child = Child(["sleep", "30"], cwd=tmp_path).spawn()
    try:
        started = start_time(child.pid)
        assert started is not None
        node = Node("n", "app", child.pid, "127.0.0.1", 1, "", started, str(tmp_path))
        assert alive(node)
        assert not alive(Node("n", "app", child.pid, "127.0.0.1", 1, "", started + 1))
        assert processes_under(tmp_path) == [child.pid]
    finally:
        child.kill()
    assert not alive(node) and processes_under(tmp_path) == []


def test_state_round_trips(tmp_path: Path) -> None:
    state = ClusterState(ClusterSpec("cluster", 2), "http://127.0.0.1:9",
                         [Node("lb", "lb", 1, "127.0.0.1", 9, "/l", 5, "/d", "http://x")])
    state.save(tmp_path)
    again = ClusterState.load(tmp_path)
    assert again == state and again.by_role("lb")[0].address == "127.0.0.1:9"
    assert ClusterState.load(tmp_path / "none") is None
