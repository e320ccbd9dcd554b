"""The transaction log (Kafka's ``__transaction_state``): one journal line
(:mod:`bazaar.broker._journal`) per state change of a transactional id, fdatasynced before
the change is acted on; the last line per id wins, and the file is compacted on start once
it has grown well past the ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bazaar.broker._journal import Journal

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
        self._journal = Journal(path, fsync=fsync)
        self.records: dict[str, TxnRecord] = {}
        for value in self._journal.replay():
            try:
                record = TxnRecord.from_json(value)
            except (ValueError, TypeError, KeyError):
                continue
            self.records[record.transactional_id] = record
        if self._journal.bloated(len(self.records)):
            self._journal.rewrite(asdict(r) for r in self.records.values())

    def write(self, record: TxnRecord) -> None:
        """Log ``record`` as its id's state; durable on return."""
        self._journal.append([asdict(record)])
        self.records[record.transactional_id] = record

    def close(self) -> None:
        self._journal.close()
