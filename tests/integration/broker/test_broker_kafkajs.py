"""Unmodified kafkajs (pinned in tests/support/kafkajs/package.json and its lock file,
installed here by ``npm ci``) against the broker: admin createTopics, an idempotent
producer, a committed and an aborted transaction, a consumer group reading read_committed
from the beginning and committing its offsets."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bazaar.broker import BrokerProcess

SUPPORT = Path(__file__).resolve().parents[2] / "support" / "kafkajs"


@pytest.fixture(scope="module")
def kafkajs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """check.js beside a node_modules that ``npm ci`` installed from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (./dev's TEST_PACKAGES: nodejs npm)"
    where = tmp_path_factory.mktemp("kafkajs")
    for name in ("package.json", "package-lock.json", "check.js"):
        shutil.copy(SUPPORT / name, where / name)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                          cwd=where, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return where


def test_kafkajs_produce_groups_and_transactions(broker: BrokerProcess, kafkajs: Path) -> None:
    topic = "kafkajs-check"
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run([node, str(kafkajs / "check.js"), broker.bootstrap, topic],
                          capture_output=True, timeout=180,
                          env={"KAFKAJS_NO_PARTITIONER_WARNING": "1"})
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    report = json.loads(done.stdout.decode().strip().splitlines()[-1])
    values = [m["value"] for m in report["seen"]]
    assert sorted(values) == sorted([f"plain-{i}" for i in range(50)]
                                    + ["committed-1", "committed-2"])  # once each
    assert "aborted-1" not in values  # read_committed drops the aborted transaction
    per_partition: dict[int, list[int]] = {}
    for m in report["seen"]:
        per_partition.setdefault(m["partition"], []).append(int(m["offset"]))
    assert all(offsets == sorted(offsets) for offsets in per_partition.values())
    committed = {p["partition"]: int(p["offset"]) for p in report["committed"][0]["partitions"]}
    for partition, offsets in per_partition.items():  # the group committed past what it read
        assert committed[partition] >= max(offsets) + 1
