"""Injected faults for the checkout saga's services: the settings of the payment-provider
simulator and of the shipping and notification services. Plain data; one seeded RNG each."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Faults:
    """Probabilities per call (0..1) and the provider's latency.

    ``decline_rate``: the card is declined (final). ``timeout_rate``: the provider call times
    out; with ``charged_on_timeout`` the provider had in fact charged the card ("timed out
    but actually charged"). ``ship_fail_rate``: no carrier accepts the parcel (final).
    ``ship_flaky_rate`` / ``notify_flaky_rate``: transient errors, worth retrying.
    """

    decline_rate: float = 0.0
    timeout_rate: float = 0.0
    charged_on_timeout: float = 0.5
    provider_latency_s: float = 0.0
    ship_fail_rate: float = 0.0
    ship_flaky_rate: float = 0.0
    notify_flaky_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("decline_rate", "timeout_rate", "charged_on_timeout", "ship_fail_rate",
                     "ship_flaky_rate", "notify_flaky_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        if self.provider_latency_s < 0:
            raise ValueError("provider_latency_s must be >= 0")

    def rng(self, salt: str) -> random.Random:
        return random.Random(None if self.seed is None else f"{self.seed}:{salt}")


NONE = Faults()
