"""Per-partition transaction state: the open transactions (for the last stable offset) and
the index of aborted ones (for ``read_committed`` fetches), as Kafka's ``.txnindex``.

A transactional producer's first batch in a partition opens its transaction there; the
commit or abort marker (a control batch the coordinator writes) closes it. The last stable
offset is the first offset of the oldest transaction still open: a ``read_committed``
consumer is served nothing at or past it. An aborted transaction is remembered as
(producer id, first offset, marker offset) so a fetch can tell the client which records to
drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the abort marker's offset


class PartitionTxns:
    """Open and aborted transactions of one partition."""

    def __init__(self) -> None:
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open txn
        self.aborted: list[AbortedTxn] = []  # in marker order (so by last offset)

    def on_data(self, producer_id: int, base_offset: int) -> None:
        """A transactional batch was appended at ``base_offset``."""
        self.ongoing.setdefault(producer_id, base_offset)

    def on_marker(self, producer_id: int, offset: int, commit: bool) -> None:
        """A commit/abort marker was appended at ``offset``."""
        first = self.ongoing.pop(producer_id, None)
        if first is not None and not commit:
            self.aborted.append(AbortedTxn(producer_id, first, offset))

    def first_unstable(self) -> int | None:
        return min(self.ongoing.values()) if self.ongoing else None

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions with records in ``[start, end)``."""
        out: list[AbortedTxn] = []
        for txn in reversed(self.aborted):
            if txn.last_offset < start:
                break
            if txn.first_offset < end:
                out.append(txn)
        out.reverse()
        return out

    def forget_below(self, offset: int) -> None:
        """Retention removed everything below ``offset``."""
        self.aborted = [t for t in self.aborted if t.last_offset >= offset]

    def to_json(self) -> dict[str, Any]:
        return {"ongoing": {str(p): o for p, o in self.ongoing.items()},
                "aborted": [[t.producer_id, t.first_offset, t.last_offset]
                            for t in self.aborted]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartitionTxns:
        txns = cls()
        txns.ongoing = {int(p): int(o) for p, o in data.get("ongoing", {}).items()}
        txns.aborted = [AbortedTxn(int(p), int(f), int(last))
                        for p, f, last in data.get("aborted", [])]
        return txns
