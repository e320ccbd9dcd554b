"""Published closed forms for write amplification under uniform random writes.

Desnoyers, "Analytic modeling of SSD write performance" (SYSTOR 2012 / ACM TOS 2014):
with spare factor Sf = (T - U) / T (T physical, U logical pages) and alpha = 1 / (1 - Sf),

- LRW (least recently written, i.e. FIFO over a circular log), Np -> infinity:
  A_LRW(alpha) = alpha / (alpha + W0(-alpha * exp(-alpha)))
- greedy, Np pages per erase block (his Eq. 12): A ~ A_LRW(k * alpha) / k with
  k = 1 + 1 / (2 * Np).

Hot/cold traffic (a fraction r of writes to a fraction f of the data) in the same framework
(our derivation, not a formula printed in the paper): under LRW a page programmed now is
cleaned after the frontier has gone once round the device, T/A host writes later, so a hot page
is still valid with probability s_h = exp(-alpha r / (f A)) and a cold one with s_c =
exp(-alpha (1-r) / ((1-f) A)); each host write costs 1 / (1 - s) programs (it is copied again
each time it survives), so A solves A = r / (1 - s_h) + (1 - r) / (1 - s_c). With r = f it is
the uniform closed form. For greedy we apply Eq. 12's correction (alpha -> k alpha, A / k).

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


def _hot_cold(alpha: float, hot_writes: float, hot_data: float) -> float:
    r, f = hot_writes, hot_data
    if not (0 < r < 1 and 0 < f < 1):
        raise FtlConfigError("hot_writes and hot_data must be in (0, 1)")

    def excess(a: float) -> float:
        return (r / -math.expm1(-alpha * r / (f * a))
                + (1 - r) / -math.expm1(-alpha * (1 - r) / ((1 - f) * a)) - a)

    lo, hi = 1.0, 1e9  # excess > 0 below the root, < 0 above it
    for _ in range(200):
        mid = (lo + hi) / 2
        if excess(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wa_lrw_hot_cold(spare_factor: float, hot_writes: float, hot_data: float) -> float:
    """LRW/FIFO write amplification when ``hot_writes`` of the writes go to ``hot_data`` of
    the logical space (uniform within each part)."""
    return _hot_cold(_alpha(spare_factor), hot_writes, hot_data)


def wa_greedy_hot_cold(spare_factor: float, pages_per_block: int, hot_writes: float,
                       hot_data: float) -> float:
    """Greedy write amplification under hot/cold traffic (Eq. 12's correction on the LRW
    hot/cold model)."""
    if pages_per_block < 1:
        raise FtlConfigError(f"pages per block must be >= 1, got {pages_per_block}")
    k = 1 + 1 / (2 * pages_per_block)
    return _hot_cold(k * _alpha(spare_factor), hot_writes, hot_data) / k
