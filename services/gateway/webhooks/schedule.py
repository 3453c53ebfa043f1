"""When a failed delivery is tried again, and when it is given up.

Exponential backoff with jitter: after the n-th failed attempt the next one is due after
``min(cap, base × 2^(n-1))``, of which a random part (up to half) is taken off so that many
deliveries failing together (a receiver's outage) do not all come back at the same instant.
A delivery is retried until ``window`` seconds after its first attempt (24 h by default); when
the next attempt would fall later, the delivery is marked ``failed``.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass


def backoff_delay_s(
    failed_attempts: int, *, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after ``failed_attempts`` (≥ 1) failures in a row: in [d/2, d] for
    d = min(cap, base × 2^(failed_attempts - 1))."""
    exponent = max(0, failed_attempts - 1)
    # 2**60 already dwarfs any cap; avoid float overflow for absurd attempt counts.
    ceiling = min(cap_s, base_s * float(2 ** min(exponent, 60)))
    return ceiling / 2 + (ceiling / 2) * rand()


@dataclass(frozen=True)
class AfterFailure:
    state: str  # "pending" (try again at next_attempt_at) or "failed" (given up)
    next_attempt_at: dt.datetime


def after_failure(
    *,
    failed_attempts: int,
    first_attempt_at: dt.datetime,
    now: dt.datetime,
    base_s: float,
    cap_s: float,
    window_s: float,
    rand: Callable[[], float] = random.random,
) -> AfterFailure:
    delay = backoff_delay_s(failed_attempts, base_s=base_s, cap_s=cap_s, rand=rand)
    next_at = now + dt.timedelta(seconds=delay)
    if next_at > first_attempt_at + dt.timedelta(seconds=window_s):
        return AfterFailure("failed", now)
    return AfterFailure("pending", next_at)
