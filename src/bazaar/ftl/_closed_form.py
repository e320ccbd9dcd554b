"""Published closed forms for write amplification under uniform random writes.

Desnoyers, "Analytic modeling of SSD write performance" (SYSTOR 2012 / ACM TOS 2014):
with spare factor Sf = (T - U) / T (T physical, U logical pages) and alpha = 1 / (1 - Sf),

- LRW (least recently written, i.e. FIFO over a circular log), Np -> infinity:
  A_LRW(alpha) = alpha / (alpha + W0(-alpha * exp(-alpha)))
- greedy, Np pages per erase block (his Eq. 12): A ~ A_LRW(k * alpha) / k with
  k = 1 + 1 / (2 * Np).

W0 is the principal branch of the Lambert W function, computed here by Halley's method (no
SciPy needed).
"""

from __future__ import annotations

import math

from bazaar.ftl._errors import FtlConfigError


def lambert_w0(x: float) -> float:
    """The principal branch W0(x) for x >= -1/e: the w >= -1 with w * e^w = x."""
    if x < -1 / math.e - 1e-15:
        raise FtlConfigError(f"W0 is undefined below -1/e (got {x})")
    if x == 0:
        return 0.0
    # Start near the branch point with its series, elsewhere from log1p.
    if x < -0.32:
        p = math.sqrt(max(0.0, 2 * (math.e * x + 1)))
        w = -1 + p - p * p / 3 + 11 / 72 * p**3
    else:
        w = math.log1p(x) if x < 3 else math.log(x) - math.log(math.log(x))
    for _ in range(100):
        ew = math.exp(w)
        f = w * ew - x
        wp1 = w + 1
        if wp1 == 0:
            break
        step = f / (ew * wp1 - (w + 2) * f / (2 * wp1))
        w -= step
        if abs(step) <= 1e-15 * (1 + abs(w)):
            break
    return w


def _alpha(spare_factor: float) -> float:
    if not 0 < spare_factor < 1:
        raise FtlConfigError(f"spare factor must be in (0, 1), got {spare_factor}")
    return 1 / (1 - spare_factor)


def _lrw(alpha: float) -> float:
    return alpha / (alpha + lambert_w0(-alpha * math.exp(-alpha)))


def wa_lrw(spare_factor: float) -> float:
    """Write amplification of LRW/FIFO cleaning under uniform random writes."""
    return _lrw(_alpha(spare_factor))


def wa_greedy(spare_factor: float, pages_per_block: int) -> float:
    """Write amplification of greedy cleaning, Desnoyers Eq. 12, for ``pages_per_block``."""
    if pages_per_block < 1:
        raise FtlConfigError(f"pages per block must be >= 1, got {pages_per_block}")
    k = 1 + 1 / (2 * pages_per_block)
    return _lrw(k * _alpha(spare_factor)) / k
