"""bazaar.processes against real processes: readiness, stop/kill, die-with-parent, locks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bazaar.processes import (
    Child,
    ChildFailed,
    DirLock,
    DirLocked,
    NotYet,
    eventually,
    free_port,
    port_answers,
    port_free,
    url_answers,
)

PY = sys.executable


def _gone(pid: int) -> bool:
    """No such process, or only a zombie left of it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "child.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


# --- ports ----------------------------------------------------------------------------------

def test_free_port_is_bindable_and_port_free_sees_a_listener() -> None:
    port = free_port()
    assert port_free(port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_free(port)
        assert port_answers(port)
    assert port_free(0)


def test_free_ports_are_distinct_and_never_the_kernels_own_picks() -> None:
    low, _ = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    # Outside the range the kernel gives to bind(0) and to outgoing connections, so neither
    # can take a port between free_port() and its user's bind.
    assert all(10_000 <= p < low for p in ports)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert s.getsockname()[1] >= low


def test_url_answers_only_2xx_by_default(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "index.html").write_text("hi")
    with Child([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp_path,
               ready_url=f"http://127.0.0.1:{port}/", log=tmp_path / "http.log"):
        assert url_answers(f"http://127.0.0.1:{port}/index.html")
        assert not url_answers(f"http://127.0.0.1:{port}/missing")
        assert url_answers(f"http://127.0.0.1:{port}/missing", ok=lambda s: s == 404)
    assert not url_answers(f"http://127.0.0.1:{port}/")


# --- children -------------------------------------------------------------------------------

def test_child_ready_by_port_then_stopped_by_term(tmp_path: Path) -> None:
    port = free_port()
    script = _script(tmp_path, f"""
        import socket, time
        s = socket.socket(); s.bind(("127.0.0.1", {port})); s.listen()
        print("listening", flush=True)
        while True:
            time.sleep(1)
    """)
    child = Child([PY, script], name="listener", log=tmp_path / "l.log", ready_port=port)
    child.start()
    assert child.alive and port_answers(port)
    assert "listening" in eventually(lambda: child.log_text(), timeout=5)
    assert child.stop() == -signal.SIGTERM
    assert not child.alive and child.returncode == -signal.SIGTERM


def test_child_that_exits_before_ready_fails_with_its_log(tmp_path: Path) -> None:
    script = _script(tmp_path, """
        import sys
        print("cannot open the database", flush=True)
        sys.exit(3)
    """)
    child = Child([PY, script], name="broken", log=tmp_path / "b.log", ready_port=free_port())
    with pytest.raises(ChildFailed, match=r"broken exited with 3") as info:
        child.start()
    assert "cannot open the database" in str(info.value)


def test_child_not_ready_in_time_is_killed_and_named(tmp_path: Path) -> None:
    port = free_port()
    child = Child([PY, "-c", "import time; time.sleep(60)"], name="slow", ready_port=port,
                  ready_timeout=0.5)
    with pytest.raises(ChildFailed, match=rf"slow was not ready within 0.5s \(port "
                                          rf"127.0.0.1:{port}\)"):
        child.start()
    assert not child.alive


def test_stop_kills_a_child_that_ignores_term(tmp_path: Path) -> None:
    script = _script(tmp_path, """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring", flush=True)
        while True:
            time.sleep(1)
    """)
    log = tmp_path / "stubborn.log"
    child = Child([PY, script], log=log, ready=lambda: "ignoring" in log.read_text())
    child.start()
    assert child.stop(grace=0.3) == -signal.SIGKILL


def test_kill_is_minus_nine_and_start_again_gives_a_new_process(tmp_path: Path) -> None:
    child = Child([PY, "-c", "import time; time.sleep(60)"]).start()
    first = child.pid
    assert child.kill() == -signal.SIGKILL
    child.start()
    try:
        assert child.pid != first and child.alive
        with pytest.raises(RuntimeError, match="already running"):
            child.spawn()
    finally:
        child.stop()


def test_env_and_cwd_reach_the_child(tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    child = Child([PY, "-c", "import os; print(os.environ['ONLY'], os.getcwd())"],
                  env={"ONLY": "this", "PATH": os.environ.get("PATH", "")}, cwd=tmp_path,
                  log=out).spawn()
    assert child.wait(10) == 0
    assert out.read_text().split() == ["this", str(tmp_path)]


def test_child_dies_with_its_parent_even_by_kill_9(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    parent_script = _script(tmp_path, f"""
        import time
        from pathlib import Path
        from bazaar.processes import Child
        child = Child([{PY!r}, "-c", "import time; time.sleep(120)"]).spawn()
        Path({str(pid_file)!r}).write_text(str(child.pid))
        time.sleep(120)
    """)
    parent = subprocess.Popen([PY, parent_script])
    try:
        grandchild = int(eventually(lambda: pid_file.exists() and pid_file.read_text(),
                                    timeout=20, what="the grandchild's pid"))
        assert not _gone(grandchild)
        parent.kill()
        parent.wait()
        eventually(lambda: _gone(grandchild), timeout=10, what="the orphan's death")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_without_die_with_parent_the_orphan_lives(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    parent_script = _script(tmp_path, f"""
        import time
        from pathlib import Path
        from bazaar.processes import Child
        child = Child([{PY!r}, "-c", "import time; time.sleep(120)"],
                      die_with_parent=False).spawn()
        Path({str(pid_file)!r}).write_text(str(child.pid))
        time.sleep(120)
    """)
    parent = subprocess.Popen([PY, parent_script])
    grandchild = int(eventually(lambda: pid_file.exists() and pid_file.read_text(),
                                timeout=20))
    parent.kill()
    parent.wait()
    try:
        with pytest.raises(NotYet):
            eventually(lambda: _gone(grandchild), timeout=0.5)
    finally:
        os.kill(grandchild, signal.SIGKILL)


# --- eventually -----------------------------------------------------------------------------

def test_eventually_returns_the_first_truthy_value() -> None:
    calls: list[int] = []

    def third_time() -> str:
        calls.append(1)
        return "done" if len(calls) >= 3 else ""

    assert eventually(third_time, timeout=5, interval=0.001) == "done"
    assert len(calls) == 3


def test_eventually_reports_the_last_error_and_chains_it() -> None:
    def never() -> bool:
        raise AssertionError("stock is 3, expected 0")

    with pytest.raises(NotYet, match=r"the stock did not hold within 0.1s \(last error: "
                                     r"AssertionError: stock is 3, expected 0\)") as info:
        eventually(never, timeout=0.1, interval=0.01, what="the stock")
    assert isinstance(info.value.__cause__, AssertionError)


def test_eventually_reports_the_last_value_and_runs_at_least_once() -> None:
    calls: list[int] = []

    def empty() -> list[int]:
        calls.append(1)
        return []

    with pytest.raises(NotYet, match=r"last value: \[\]") as info:
        eventually(empty, timeout=0)
    assert calls == [1] and info.value.last == []


# --- one owner per directory ----------------------------------------------------------------

def test_a_second_owner_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    data = tmp_path / "broker"
    script = _script(tmp_path, f"""
        import time
        from pathlib import Path
        from bazaar.processes import DirLock
        DirLock(Path({str(data)!r}), "the broker log directory").acquire()
        print("holding", flush=True)
        time.sleep(120)
    """)
    log = tmp_path / "holder.log"
    holder = Child([PY, script], log=log, ready=lambda: "holding" in log.read_text()).start()
    try:
        with pytest.raises(DirLocked, match=rf"the broker log directory {data} is in use by "
                                            rf"process {holder.pid}") as info:
            DirLock(data, "the broker log directory").acquire()
        assert info.value.pid == holder.pid
        holder.kill()  # the kernel releases the lock of a process killed by -9
        with DirLock(data) as lock:
            assert lock.held and lock.holder() == os.getpid()
        assert not lock.held
    finally:
        holder.stop()


def test_the_lock_is_not_inherited_by_children(tmp_path: Path) -> None:
    with DirLock(tmp_path) as lock:
        child = Child([PY, "-c", "import time; time.sleep(60)"]).spawn()
        try:
            lock.release()
            DirLock(tmp_path).acquire().release()  # the child does not hold it
        finally:
            child.stop()
