"""A real ``bazaar broker serve`` process per test module, on a random port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bazaar.broker import BrokerProcess, run_subprocess


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    data = tmp_path_factory.mktemp("broker") / "data"
    with run_subprocess(data, args=("--rebalance-delay-ms", "100",
                                    "--max-request-bytes", "1048576")) as process:
        yield process
