"""What a sandbox's mount view covers: closed directories hidden, the runtime shown again."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bazaar.functions import bwrap_args, hidden_mounts


def test_a_closed_directory_is_covered_and_only_the_path_through_it_shown() -> None:
    base = Path(tempfile.mkdtemp(dir="/var/tmp"))  # open ancestors (pytest's tmp is 0700)
    base.chmod(0o755)
    closed = base / "home"
    runtime = closed / "pyenv" / "lib"
    runtime.mkdir(parents=True)
    (closed / "secrets").mkdir()
    closed.chmod(0o700)
    try:
        assert hidden_mounts([runtime]) == [("tmpfs", str(closed)),
                                            ("bind", str(closed / "pyenv"))]
        args = bwrap_args(allow_network=False, visible=[runtime])
        at = args.index(str(closed))
        assert args[at - 3:at + 1] == ["--perms", "0711", "--tmpfs", str(closed)]  # not listable
        assert ["--ro-bind", str(closed / "pyenv"), str(closed / "pyenv")] == args[at + 1:at + 4]
        assert "--unshare-net" in args
    finally:
        closed.chmod(0o755)
        shutil.rmtree(base)


def test_open_directories_need_no_mount_and_a_runtime_under_tmp_is_shown_again(
        tmp_path: Path) -> None:
    open_runtime = Path("/usr/lib")
    assert hidden_mounts([open_runtime]) == []
    under_tmp = tmp_path / "venv"  # pytest's tmp_path lies under /tmp, which sandboxes replace
    under_tmp.mkdir()
    assert ("bind", str(under_tmp)) in hidden_mounts([under_tmp])
