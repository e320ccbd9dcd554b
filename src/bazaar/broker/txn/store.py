"""The transaction log (Kafka's ``__transaction_state``): one JSON line per state change of a
transactional id, each with a CRC32C, fdatasynced before the change is acted on; the last
line per id wins, and the file is compacted on start once it has grown well past the ids.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crc32c import crc32c

EMPTY = "Empty"
ONGOING = "Ongoing"
PREPARE_COMMIT = "PrepareCommit"
PREPARE_ABORT = "PrepareAbort"
COMPLETE_COMMIT = "CompleteCommit"
COMPLETE_ABORT = "CompleteAbort"


@dataclass
class TxnRecord:
    """A transactional id's state, as logged."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: str = EMPTY
    partitions: list[tuple[str, int]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    # (group, topic, partition, offset, metadata): applied only when the txn commits
    offsets: list[tuple[str, str, int, int, str | None]] = field(default_factory=list)
    started_ms: int = 0  # wall clock of the first partition added (for the timeout)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TxnRecord:
        return cls(str(data["transactional_id"]), int(data["producer_id"]),
                   int(data["producer_epoch"]), int(data["timeout_ms"]), str(data["state"]),
                   [(str(t), int(p)) for t, p in data["partitions"]],
                   [str(g) for g in data["groups"]],
                   [(str(g), str(t), int(p), int(o), m) for g, t, p, o, m in data["offsets"]],
                   int(data["started_ms"]))


class TxnStore:
    """transactional id → its last logged :class:`TxnRecord`, kept at ``path``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self.records: dict[str, TxnRecord] = {}
        self._lines = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        if self._lines > 2 * len(self.records) + 1000:
            self._compact()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # torn last line: never acted on; cut it
            data = data[:data.rfind(b"\n") + 1]
            with self.path.open("r+b") as f:
                f.truncate(len(data))
                os.fsync(f.fileno())
        for raw in data.splitlines():
            crc, _, body = raw.partition(b" ")
            try:
                if int(crc, 16) != crc32c(body):
                    continue
                record = TxnRecord.from_json(json.loads(body))
            except (ValueError, TypeError, KeyError):
                continue
            self.records[record.transactional_id] = record
            self._lines += 1

    @staticmethod
    def _line(record: TxnRecord) -> bytes:
        body = json.dumps(asdict(record), separators=(",", ":")).encode()
        return b"%08x %s\n" % (crc32c(body), body)

    def _compact(self) -> None:
        tmp = self.path.with_suffix(".compact")
        with tmp.open("wb") as f:
            for record in self.records.values():
                f.write(self._line(record))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._lines = len(self.records)

    def write(self, record: TxnRecord) -> None:
        """Log ``record`` as its id's state; durable on return."""
        os.write(self._fd, self._line(record))
        if self.fsync:
            os.fdatasync(self._fd)
        self.records[record.transactional_id] = record
        self._lines += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
