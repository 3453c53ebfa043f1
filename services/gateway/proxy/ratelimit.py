"""Per-principal budgets for expensive routes: one token bucket per (``sub``, budget).

A budget of N per minute holds at most N tokens and refills at N/60 per second, so a person
clicking through exports or scoring a scorecard never notices it, while a script that floods a
route gets 429 with ``Retry-After`` (the seconds until the next token) after the first N requests.

The buckets live in the gateway process: with several gateway replicas each one counts on its
own, so a client spread over R replicas gets up to R × N per minute. That bounds the load one
principal can put on the services, which is the point; it is not a billing-grade quota.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping


class RateLimiter:
    """Token buckets keyed by (principal, budget). ``acquire`` is O(1); idle buckets are pruned."""

    MAX_BUCKETS = 100_000

    def __init__(self, per_minute: Mapping[str, int]) -> None:
        # budget -> (capacity, tokens per second); a budget of 0 (or absent) is unlimited.
        self._budgets = {name: (float(n), n / 60.0) for name, n in per_minute.items() if n > 0}
        # (sub, budget) -> [tokens, monotonic time of the last update]
        self._buckets: dict[tuple[str, str], list[float]] = {}

    def acquire(self, budget: str, sub: str, now: float | None = None) -> int:
        """Take one token. Returns 0 when allowed, else the whole seconds until one is available."""
        limits = self._budgets.get(budget)
        if limits is None:
            return 0
        capacity, rate = limits
        now = time.monotonic() if now is None else now
        key = (sub, budget)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._prune(now)
            self._buckets[key] = [capacity - 1.0, now]
            return 0
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) / rate))

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (they behave exactly like new ones)."""
        full = [
            key
            for key, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * self._budgets[key[1]][1] >= self._budgets[key[1]][0]
        ]
        for key in full:
            del self._buckets[key]
