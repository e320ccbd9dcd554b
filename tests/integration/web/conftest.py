from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar.processes import Child, free_port


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of ``guarded_app.py`` under uvicorn in a child process."""
    port = free_port()
    log = tmp_path_factory.mktemp("web") / "guarded.log"
    with Child([sys.executable, str(Path(__file__).with_name("guarded_app.py")), str(port)],
               name="guarded-app", log=log, ready_port=port, ready_timeout=20) as child:
        yield port, child.pid
