"""Per-partition idempotent-producer state: so a retried batch is not written twice.

Each producer id keeps its epoch, last sequence number and its last five batches (Kafka
allows five in flight per connection). A retry of one of those five is answered with the
offset it already has; a gap is refused, and so is an older epoch.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bazaar.broker._errors import ProducerFencedError, SequenceError
from bazaar.broker.log.batch import NO_PRODUCER_ID, BatchHeader

_INT32_MAX = 2**31 - 1
_REMEMBERED = 5


@dataclass
class _Producer:
    epoch: int
    last_sequence: int
    recent: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=_REMEMBERED))


class ProducerTable:
    """Sequence state of the idempotent producers writing one partition."""

    def __init__(self) -> None:
        self._producers: dict[int, _Producer] = {}

    def check(self, header: BatchHeader) -> int | None:
        """None to append ``header``'s batch; the base offset it got if it is a retry.

        Raises :class:`SequenceError` for a gap, :class:`ProducerFencedError` for a stale epoch.
        """
        pid = header.producer_id
        if pid == NO_PRODUCER_ID or header.base_sequence < 0:
            return None
        state = self._producers.get(pid)
        if state is None:
            return None  # unknown here (new, or its state predates a restart): accept
        if header.producer_epoch < state.epoch:
            raise ProducerFencedError(
                f"producer {pid} epoch {header.producer_epoch} < {state.epoch}")
        if header.producer_epoch > state.epoch:
            if header.base_sequence != 0:
                raise SequenceError(f"producer {pid} new epoch must start at sequence 0")
            return None
        for first, last, offset in state.recent:
            if first == header.base_sequence and last == header.last_sequence:
                return offset
        expected = 0 if state.last_sequence == _INT32_MAX else state.last_sequence + 1
        if header.base_sequence != expected:
            raise SequenceError(
                f"producer {pid}: sequence {header.base_sequence}, expected {expected}")
        return None

    def record(self, header: BatchHeader, base_offset: int) -> None:
        """Remember a batch that was appended at ``base_offset``."""
        pid = header.producer_id
        if pid == NO_PRODUCER_ID or header.base_sequence < 0:
            return
        state = self._producers.get(pid)
        if state is None or header.producer_epoch != state.epoch:
            state = _Producer(header.producer_epoch, -1)
            self._producers[pid] = state
        state.last_sequence = header.last_sequence
        state.recent.append((header.base_sequence, header.last_sequence, base_offset))

    def fence(self, producer_id: int, epoch: int) -> None:
        """A transaction marker of ``epoch``: older epochs are refused from now on, and the
        producer's next batch starts a new sequence (a bumped epoch starts at 0)."""
        state = self._producers.get(producer_id)
        if state is None or epoch > state.epoch:
            self._producers[producer_id] = _Producer(epoch, -1)

    def __len__(self) -> int:
        return len(self._producers)

    def to_json(self) -> dict[str, list[Any]]:
        """The table as JSON-able data, for the snapshot taken when a segment rolls."""
        return {str(pid): [p.epoch, p.last_sequence, [list(r) for r in p.recent]]
                for pid, p in self._producers.items()}

    @classmethod
    def from_json(cls, data: dict[str, list[Any]]) -> ProducerTable:
        table = cls()
        for pid, (epoch, last, recent) in data.items():
            state = _Producer(int(epoch), int(last))
            for first, last_seq, offset in recent:
                state.recent.append((int(first), int(last_seq), int(offset)))
            table._producers[int(pid)] = state
        return table
