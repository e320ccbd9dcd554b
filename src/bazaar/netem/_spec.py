"""What a link does to the packets crossing it, one direction at a time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class NetemError(RuntimeError):
    """The emulated network could not be set up, or a setting is out of range."""


@dataclass(frozen=True)
class LinkSpec:
    """One direction of a link: every packet waits ``delay_ms`` (plus a uniform jitter in
    ``[-jitter_ms, +jitter_ms]``, never reordering packets), is dropped with probability
    ``loss`` (0..1; 1 is a partition), and — with ``rate_mbit`` > 0 — is serialised at that
    rate behind the packets before it, a queue of at most ``queue_bytes`` (tail drop beyond).
    A round trip over a link set the same both ways costs twice ``delay_ms``."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    rate_mbit: float = 0.0
    queue_bytes: int = 256 * 1024

    def __post_init__(self) -> None:
        if not 0.0 <= self.delay_ms <= 10_000:
            raise NetemError(f"delay_ms must be within 0..10000, not {self.delay_ms!r}")
        if not 0.0 <= self.jitter_ms <= self.delay_ms:
            raise NetemError(f"jitter_ms must be within 0..delay_ms ({self.delay_ms:g}), "
                             f"not {self.jitter_ms!r}")
        if not 0.0 <= self.loss <= 1.0:
            raise NetemError(f"loss must be a probability in [0, 1], not {self.loss!r}")
        if not 0.0 <= self.rate_mbit <= 100_000:
            raise NetemError(f"rate_mbit must be within 0..100000 (0: unlimited), "
                             f"not {self.rate_mbit!r}")
        if self.queue_bytes < 1500:
            raise NetemError(f"queue_bytes must hold one packet (>= 1500), "
                             f"not {self.queue_bytes!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkSpec:
        known = {k: data[k] for k in ("delay_ms", "jitter_ms", "loss", "rate_mbit",
                                       "queue_bytes") if k in data}
        unknown = set(data) - set(known)
        if unknown:
            raise NetemError(f"unknown link settings: {', '.join(sorted(unknown))}")
        try:
            values: dict[str, Any] = {k: (int(v) if k == "queue_bytes" else float(v))
                                      for k, v in known.items()}
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise NetemError(f"bad link settings {data!r}: {exc}") from None

    def describe(self) -> str:
        parts = [f"{self.delay_ms:g} ms"]
        if self.jitter_ms:
            parts.append(f"±{self.jitter_ms:g} ms")
        if self.loss:
            parts.append(f"{self.loss:.1%} loss")
        if self.rate_mbit:
            parts.append(f"{self.rate_mbit:g} Mbit/s")
        return " ".join(parts)
