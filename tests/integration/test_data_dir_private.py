"""``bazaar up`` keeps its data directory to itself: the directory is 0700 (made so even when
it already existed as 0755), the secrets in it are 0600, and another uid can neither list it
nor read the database, the master key or the demo password."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar import localservers
from bazaar.processes import private_dir

NOBODY = 65534


@pytest.fixture(scope="module")
def served_data_dir() -> Iterator[Path]:
    # Under a world-traversable folder (pytest's tmp_path is 0700 itself, which would hide
    # the very thing checked here), as an old install left it: 0755.
    with tempfile.TemporaryDirectory(prefix="bazaar-private-", dir="/tmp") as top:
        os.chmod(top, 0o755)
        data = Path(top) / "data"
        data.mkdir(mode=0o755)
        os.chmod(data, 0o755)
        with localservers.bazaar_up(data, "--no-services"):
            pass
        yield data


def test_up_makes_its_data_dir_0700_and_its_secrets_0600(served_data_dir: Path) -> None:
    assert served_data_dir.stat().st_mode & 0o777 == 0o700
    for secret in ("auth/master.key", "demo-password"):
        assert (served_data_dir / secret).stat().st_mode & 0o777 == 0o600, secret


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", *argv], capture_output=True, text=True,
                          timeout=30, check=False)


def test_another_uid_can_read_nothing_under_it(served_data_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to another uid (setpriv) needs root")
    # The control: nobody can read a world-readable file beside the data dir.
    beside = served_data_dir.parent / "readable.txt"
    beside.write_text("hello\n")
    os.chmod(beside, 0o644)
    assert _as_nobody("cat", str(beside)).stdout == "hello\n"
    listing = _as_nobody("ls", str(served_data_dir))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr
    for name in ("bazaar.db", "auth/master.key", "demo-password", "auth/audit.log"):
        done = _as_nobody("cat", str(served_data_dir / name))
        assert done.returncode != 0 and "Permission denied" in done.stderr, name


def test_private_dir_tightens_an_existing_dir_and_makes_a_missing_one(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    assert private_dir(loose) == loose
    assert loose.stat().st_mode & 0o777 == 0o700
    deep = private_dir(tmp_path / "a" / "b")
    assert deep.is_dir() and deep.stat().st_mode & 0o777 == 0o700
